//! A tool result as text for the model: text blocks as they are, everything else (images,
//! audio, resources, links) described, since the model reads tool results as text.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};

/// The text the model sees for `result`.
pub fn result_text(result: &CallToolResult) -> String {
    let mut parts: Vec<String> = result.content.iter().map(block_text).collect();
    // Structured output is the result itself when the server gives no text for it.
    if parts.is_empty()
        && let Some(v) = &result.structured_content
    {
        parts.push(serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()));
    }
    if parts.is_empty() {
        return "(the tool returned no content)".to_string();
    }
    parts.join("\n")
}

fn block_text(block: &ContentBlock) -> String {
    match block {
        ContentBlock::Text(t) => t.text.clone(),
        ContentBlock::Image(i) => format!("[image: {}, {} bytes; images are not shown to the model]", i.mime_type, base64_len(&i.data)),
        ContentBlock::Audio(a) => format!("[audio: {}, {} bytes; audio is not given to the model]", a.mime_type, base64_len(&a.data)),
        ContentBlock::Resource(r) => match &r.resource {
            ResourceContents::TextResourceContents { uri, mime_type, text, .. } => {
                format!("[resource {uri}{}]\n{text}", mime_type.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())
            }
            ResourceContents::BlobResourceContents { uri, mime_type, blob, .. } => format!(
                "[resource {uri}: binary{}, {} bytes; its content is not shown to the model]",
                mime_type.as_deref().map(|m| format!(" {m}")).unwrap_or_default(),
                base64_len(blob)
            ),
            // The enum is open upstream; a future kind is still named.
            #[allow(unreachable_patterns)]
            _ => "[resource of an unknown kind]".to_string(),
        },
        ContentBlock::ResourceLink(l) => {
            let mut s = format!("[resource link: {}", l.uri);
            if l.name != l.uri {
                s.push_str(&format!(" \"{}\"", l.name));
            }
            if let Some(m) = &l.mime_type {
                s.push_str(&format!(" ({m})"));
            }
            if let Some(d) = &l.description {
                s.push_str(&format!(" — {d}"));
            }
            s.push(']');
            s
        }
        #[allow(unreachable_patterns)]
        other => format!(
            "[content the model cannot read: {}]",
            serde_json::to_value(other)
                .ok()
                .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
                .unwrap_or_else(|| "unknown".into())
        ),
    }
}

/// Decoded size of base64 data, without decoding it.
fn base64_len(data: &str) -> usize {
    let trimmed = data.trim_end_matches('=');
    let chars = trimmed.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    chars * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn result(v: serde_json::Value) -> CallToolResult {
        serde_json::from_value(v).expect("a valid CallToolResult")
    }

    #[test]
    fn text_is_kept_and_images_and_resources_are_described() {
        let r = result(json!({"content": [
            {"type": "text", "text": "hello"},
            {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "test://static/resource/1", "mimeType": "text/plain", "text": "Resource 1 body"}},
            {"type": "resource", "resource": {"uri": "test://blob", "mimeType": "application/octet-stream", "blob": "AAAA"}},
            {"type": "resource_link", "uri": "file:///x.txt", "name": "x.txt", "mimeType": "text/plain"}
        ]}));
        let text = result_text(&r);
        assert!(text.starts_with("hello\n"), "{text}");
        assert!(text.contains("[image: image/png, 8 bytes; images are not shown to the model]"), "{text}");
        assert!(text.contains("[resource test://static/resource/1 (text/plain)]\nResource 1 body"), "{text}");
        assert!(text.contains("[resource test://blob: binary application/octet-stream, 3 bytes"), "{text}");
        assert!(text.contains("[resource link: file:///x.txt \"x.txt\" (text/plain)]"), "{text}");
    }

    #[test]
    fn structured_content_stands_in_for_missing_text() {
        let r = result(json!({"content": [], "structuredContent": {"sum": 3}}));
        assert!(result_text(&r).contains("\"sum\": 3"));
        let empty = result(json!({"content": []}));
        assert_eq!(result_text(&empty), "(the tool returned no content)");
    }
}
