//! Request and response mapping of the AI providers, as pure functions over JSON: one copy for
//! the server, the Worker and the CLI, which only make the HTTP request (or the binding call):
//!
//! - the Workers AI binding (`env.AI.run(model, input)`): chat input
//!   `{"messages":[{"role","content"}],"max_tokens"}` → `{"response": "..."}`; embedding input
//!   `{"text":[...]}` → `{"shape":[n,d],"data":[[...]]}`;
//! - an OpenAI-compatible HTTP endpoint: `POST {base}/chat/completions` and
//!   `POST {base}/embeddings`.

use crate::conversation::Role;
use crate::ports::{AiError, ChatRequest};
use serde::Serialize;
use serde_json::{json, Value};

fn role(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// One chat message on the wire (`{"role","content"}`), shared by both providers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WireMessage {
    /// `system`, `user` or `assistant`.
    pub role: &'static str,
    /// The text.
    pub content: String,
}

/// The input of `env.AI.run(model, input)` for a chat request. A struct, not a `Value`, so
/// `serde-wasm-bindgen` turns it into a plain JS object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkersAiChatInput {
    /// System prompt, history, then the user turn.
    pub messages: Vec<WireMessage>,
    /// Upper bound on generated tokens.
    pub max_tokens: u32,
}

/// The input of `env.AI.run(model, input)` for embeddings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkersAiEmbedInput {
    /// The texts, in order.
    pub text: Vec<String>,
}

/// The chat messages of a request, OpenAI style: the system prompt, the history, the user turn.
pub fn chat_messages(request: &ChatRequest) -> Vec<WireMessage> {
    let mut messages = Vec::with_capacity(request.history.len() + 2);
    messages.push(WireMessage {
        role: "system",
        content: request.system.clone(),
    });
    for turn in &request.history {
        messages.push(WireMessage {
            role: role(turn.role),
            content: turn.content.clone(),
        });
    }
    messages.push(WireMessage {
        role: "user",
        content: request.user.clone(),
    });
    messages
}

/// The input of `env.AI.run(request.model, input)` for a chat request.
pub fn workers_ai_chat_input(request: &ChatRequest) -> WorkersAiChatInput {
    WorkersAiChatInput {
        messages: chat_messages(request),
        max_tokens: request.max_tokens,
    }
}

/// Reads the text out of a Workers AI chat answer: `{"response": "..."}` (text-generation
/// models), or an OpenAI-style `choices` array (some newer models).
///
/// # Errors
/// [`AiError::BadResponse`] when neither shape is present or the text is blank.
pub fn parse_workers_ai_chat(output: &Value) -> Result<String, AiError> {
    let text = match output.get("response") {
        Some(Value::String(s)) => Some(s.clone()),
        // Some models answer structured JSON as an object when asked for JSON.
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        _ => openai_choice_text(output),
    };
    non_blank(text)
}

/// The input of `env.AI.run(embedding_model, input)` for texts.
pub fn workers_ai_embed_input(texts: &[String]) -> WorkersAiEmbedInput {
    WorkersAiEmbedInput {
        text: texts.to_vec(),
    }
}

/// Reads the vectors out of a Workers AI embedding answer `{"shape":[n,d],"data":[[...]]}`.
///
/// # Errors
/// [`AiError::BadResponse`] when `data` is missing, not numeric, or has a different count
/// than `expected`.
pub fn parse_workers_ai_embeddings(
    output: &Value,
    expected: usize,
) -> Result<Vec<Vec<f32>>, AiError> {
    let rows = output
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| AiError::BadResponse("embedding answer has no data".into()))?;
    let vectors = rows.iter().map(vector).collect::<Result<Vec<_>, _>>()?;
    check_count(vectors, expected)
}

/// The body of `POST {base}/chat/completions`.
pub fn openai_chat_body(request: &ChatRequest) -> Value {
    json!({
        "model": request.model,
        "messages": chat_messages(request),
        "max_tokens": request.max_tokens,
        "stream": false,
    })
}

/// Reads `choices[0].message.content` out of a chat-completions answer.
///
/// # Errors
/// [`AiError::BadResponse`] for another shape or a blank text.
pub fn parse_openai_chat(body: &[u8]) -> Result<String, AiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AiError::BadResponse(format!("chat answer is not JSON: {e}")))?;
    non_blank(openai_choice_text(&value))
}

/// The body of `POST {base}/embeddings`.
pub fn openai_embed_body(model: &str, texts: &[String]) -> Value {
    json!({ "model": model, "input": texts })
}

/// Reads the vectors of an embeddings answer (`data[].embedding`, ordered by `index`).
///
/// # Errors
/// [`AiError::BadResponse`] for another shape or a different count than `expected`.
pub fn parse_openai_embeddings(body: &[u8], expected: usize) -> Result<Vec<Vec<f32>>, AiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AiError::BadResponse(format!("embedding answer is not JSON: {e}")))?;
    let rows = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| AiError::BadResponse("embedding answer has no data".into()))?;
    let mut indexed = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let index = row
                .get("index")
                .and_then(Value::as_u64)
                .map_or(i, |n| usize::try_from(n).unwrap_or(usize::MAX));
            let v = row
                .get("embedding")
                .ok_or_else(|| AiError::BadResponse("embedding row without a vector".into()))
                .and_then(vector)?;
            Ok((index, v))
        })
        .collect::<Result<Vec<_>, AiError>>()?;
    crate::sort::by_key(&mut indexed, |(i, _)| *i);
    check_count(indexed.into_iter().map(|(_, v)| v).collect(), expected)
}

fn openai_choice_text(value: &Value) -> Option<String> {
    value
        .get("choices")?
        .get(0)?
        .get("message")?
        .get("content")?
        .as_str()
        .map(str::to_owned)
}

fn non_blank(text: Option<String>) -> Result<String, AiError> {
    match text {
        Some(t) if !t.trim().is_empty() => Ok(t),
        Some(_) => Err(AiError::BadResponse("empty answer".into())),
        None => Err(AiError::BadResponse("answer has no text".into())),
    }
}

fn vector(row: &Value) -> Result<Vec<f32>, AiError> {
    row.as_array()
        .ok_or_else(|| AiError::BadResponse("embedding is not an array".into()))?
        .iter()
        .map(|x| {
            x.as_f64()
                // Embeddings are f32 by nature; the narrowing is the intent.
                .map(|f| f as f32)
                .ok_or_else(|| AiError::BadResponse("embedding holds a non-number".into()))
        })
        .collect()
}

fn check_count(vectors: Vec<Vec<f32>>, expected: usize) -> Result<Vec<Vec<f32>>, AiError> {
    if vectors.len() == expected {
        Ok(vectors)
    } else {
        Err(AiError::BadResponse(format!(
            "expected {expected} embeddings, got {}",
            vectors.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use crate::conversation::Turn;

    use super::*;

    fn request() -> ChatRequest {
        ChatRequest {
            model: "@cf/meta/llama-4-scout-17b-16e-instruct".into(),
            system: "SYSTEM".into(),
            history: vec![Turn::user("hi"), Turn::assistant("hello!")],
            user: "cake for sunday?".into(),
            max_tokens: 400,
        }
    }

    #[test]
    fn workers_ai_chat_input_orders_system_history_user() {
        let input = serde_json::to_value(workers_ai_chat_input(&request())).unwrap();
        assert_eq!(
            input,
            json!({
                "messages": [
                    {"role": "system", "content": "SYSTEM"},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello!"},
                    {"role": "user", "content": "cake for sunday?"},
                ],
                "max_tokens": 400,
            })
        );
    }

    #[test]
    fn workers_ai_chat_answer_shapes() {
        assert_eq!(
            parse_workers_ai_chat(&json!({"response": "Yes, we can!", "usage": {}})).unwrap(),
            "Yes, we can!"
        );
        // A JSON-mode answer comes back as an object; the classifiers parse its text.
        assert_eq!(
            parse_workers_ai_chat(&json!({"response": {"verdict": "allow"}})).unwrap(),
            r#"{"verdict":"allow"}"#
        );
        assert_eq!(
            parse_workers_ai_chat(&json!({"choices": [{"message": {"content": "ok"}}]})).unwrap(),
            "ok"
        );
        assert!(matches!(
            parse_workers_ai_chat(&json!({"response": "  "})),
            Err(AiError::BadResponse(_))
        ));
        assert!(matches!(
            parse_workers_ai_chat(&json!({"result": 1})),
            Err(AiError::BadResponse(_))
        ));
    }

    #[test]
    fn workers_ai_embeddings_mapping() {
        let texts = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(
            serde_json::to_value(workers_ai_embed_input(&texts)).unwrap(),
            json!({"text": ["a", "b"]})
        );
        let out = json!({"shape": [2, 3], "data": [[0.1, 0.2, 0.3], [1.0, 0.0, -1.0]]});
        let v = parse_workers_ai_embeddings(&out, 2).unwrap();
        assert_eq!(v[1], vec![1.0, 0.0, -1.0]);
        assert!(parse_workers_ai_embeddings(&out, 3).is_err());
        assert!(parse_workers_ai_embeddings(&json!({"data": [["x"]]}), 1).is_err());
    }

    #[test]
    fn openai_mapping() {
        let body = openai_chat_body(&request());
        assert_eq!(body["model"], "@cf/meta/llama-4-scout-17b-16e-instruct");
        assert_eq!(body["messages"].as_array().unwrap().len(), 4);
        assert_eq!(
            parse_openai_chat(
                br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"}}]}"#
            )
            .unwrap(),
            "Hi!"
        );
        assert!(parse_openai_chat(b"not json").is_err());
        let emb = br#"{"data":[{"index":1,"embedding":[2.0]},{"index":0,"embedding":[1.0]}]}"#;
        assert_eq!(
            parse_openai_embeddings(emb, 2).unwrap(),
            vec![vec![1.0], vec![2.0]]
        );
    }
}
