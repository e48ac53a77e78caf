use std::sync::Arc;

use super::*;
use crate::model::scripted::{Answer, Scenario, ScriptedProvider};

fn writer(answers: &[&str]) -> ScriptedProvider {
    let scenario =
        Scenario { writer: answers.iter().map(|t| Answer { text: t.to_string(), ..Default::default() }).collect(), ..Default::default() };
    ScriptedProvider::new(Arc::new(scenario), 0.0)
}

fn request() -> ModelRequest {
    ModelRequest {
        role: Role::Writer,
        model: "w".into(),
        system: "answer a number".into(),
        messages: vec![Message::User { text: "a number please".into() }].into(),
        tools: Vec::new(),
        temperature: Some(0.0),
        max_tokens: 100,
    }
}

fn number(text: &str) -> Result<u32, String> {
    text.trim().parse().map_err(|_| format!("{text:?} is not a number"))
}

fn policy() -> RetryPolicy {
    RetryPolicy { max_attempts: 1, ..Default::default() }
}

#[tokio::test]
async fn an_invalid_answer_is_asked_again_once_with_the_reason_and_both_calls_are_spent() {
    let p = writer(&["seven", "7", "8"]);
    let mut req = request();
    let asked = ask_until_valid(&p, &policy(), &mut req, TRIES, number, |why| format!("again: {why}")).await;
    let valid = asked.answer.unwrap();
    assert_eq!((valid.value, valid.text.as_str()), (7, "7"));
    assert_eq!(asked.spent.len(), 2, "both calls cost something");
    assert!(asked.spent.iter().all(|s| s.role == Role::Writer && s.model == "w" && s.usage.prompt_tokens > 0));
    assert_eq!(req.messages.len(), 3, "{:?}", req.messages);
    assert!(matches!(&req.messages[1], Message::Assistant { text, .. } if text == "seven"));
    assert!(matches!(&req.messages[2], Message::User { text } if text == "again: \"seven\" is not a number"));
}

#[tokio::test]
async fn two_invalid_answers_fail_with_the_last_reason_and_no_third_call() {
    let p = writer(&["a", "b", "9"]);
    let mut req = request();
    let asked = ask_until_valid(&p, &policy(), &mut req, TRIES, number, |why| why.to_string()).await;
    match asked.answer {
        Err(AskError::Invalid(why)) => assert_eq!(why, "\"b\" is not a number"),
        other => panic!("{other:?}"),
    }
    assert_eq!(asked.spent.len(), 2);
}

#[tokio::test]
async fn a_model_error_ends_the_asking_and_keeps_what_was_spent() {
    // The scenario has one answer: the second call is the provider's error.
    let p = writer(&["x"]);
    let mut req = request();
    let asked = ask_until_valid(&p, &policy(), &mut req, TRIES, number, |why| why.to_string()).await;
    assert!(matches!(asked.answer, Err(AskError::Model(_))), "{:?}", asked.answer);
    assert_eq!(asked.spent.len(), 1);
}

#[tokio::test]
async fn asked_once_means_no_retry_message() {
    let p = writer(&["x", "1"]);
    let mut req = request();
    let asked = ask_until_valid(&p, &policy(), &mut req, 1, number, |why| why.to_string()).await;
    assert!(matches!(asked.answer, Err(AskError::Invalid(_))));
    assert_eq!(req.messages.len(), 1, "nothing to continue");
}
