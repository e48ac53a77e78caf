//! The conversation as the session's state holds it and a request carries it.
//!
//! Every step's request is the whole conversation. Copying it each step would make a step cost
//! in proportion to the session's length, so each message is shared (`Arc`): taking the state's
//! conversation for a request copies one pointer per message, and the messages themselves are
//! never copied. Messages are never changed in place; a rebuilt window is a new conversation.

use std::sync::Arc;

use super::Message;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversation(Vec<Arc<Message>>);

impl Conversation {
    pub fn new() -> Conversation {
        Conversation(Vec::new())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn push(&mut self, m: Message) {
        self.0.push(Arc::new(m));
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Message> + ExactSizeIterator {
        self.0.iter().map(|m| &**m)
    }

    pub fn get(&self, i: usize) -> Option<&Message> {
        self.0.get(i).map(|m| &**m)
    }

    pub fn last(&self) -> Option<&Message> {
        self.0.last().map(|m| &**m)
    }

    /// The messages from `from` on (none when `from` is past the end).
    pub fn since(&self, from: usize) -> impl DoubleEndedIterator<Item = &Message> + ExactSizeIterator {
        self.0.get(from..).unwrap_or(&[]).iter().map(|m| &**m)
    }

    /// A copy of the messages, for code that builds new windows from them.
    pub fn to_vec(&self) -> Vec<Message> {
        self.iter().cloned().collect()
    }
}

/// Serialized as the list of messages it holds.
impl serde::Serialize for Conversation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Conversation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Conversation, D::Error> {
        Vec::<Message>::deserialize(d).map(Conversation::from)
    }
}

impl std::ops::Index<usize> for Conversation {
    type Output = Message;
    fn index(&self, i: usize) -> &Message {
        &self.0[i]
    }
}

impl From<Vec<Message>> for Conversation {
    fn from(v: Vec<Message>) -> Conversation {
        Conversation(v.into_iter().map(Arc::new).collect())
    }
}

impl From<&[Message]> for Conversation {
    fn from(v: &[Message]) -> Conversation {
        v.iter().cloned().collect()
    }
}

impl FromIterator<Message> for Conversation {
    fn from_iter<I: IntoIterator<Item = Message>>(it: I) -> Conversation {
        Conversation(it.into_iter().map(Arc::new).collect())
    }
}

fn as_message(m: &Arc<Message>) -> &Message {
    m
}

impl<'a> IntoIterator for &'a Conversation {
    type Item = &'a Message;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, Arc<Message>>, fn(&'a Arc<Message>) -> &'a Message>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(as_message as fn(&'a Arc<Message>) -> &'a Message)
    }
}

impl PartialEq<Vec<Message>> for Conversation {
    fn eq(&self, other: &Vec<Message>) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a == b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_shares_the_messages() {
        let mut c: Conversation = vec![Message::User { text: "a".repeat(1000) }].into();
        let copy = c.clone();
        assert!(std::ptr::eq(&c[0], &copy[0]), "the message itself is not copied");
        c.push(Message::User { text: "b".into() });
        assert_eq!(copy.len(), 1);
        assert_eq!(c.len(), 2);
        assert_eq!(c.since(1).count(), 1);
        assert_eq!(c.since(5).count(), 0);
        assert!(c == vec![Message::User { text: "a".repeat(1000) }, Message::User { text: "b".into() }]);
    }
}
