//! `/dashboard/knowledge`: the business's own documents the replies are grounded in. The
//! owner lists them (kind, passages, embedding model, when), uploads one (a file input, or
//! text pasted under a name), deletes one, and tries a question: the passages it finds, best
//! first, and the exact envelope the model would get for it (View prompt with its knowledge
//! section). The same engine calls as the admin API's `/tenants/{t}/knowledge` routes.
//!
//! Without the core's `knowledge` feature (the Cloudflare Worker today) the page lists what
//! is stored and says that uploads and search are not on this deployment.

use askama::Template;

#[cfg(feature = "knowledge")]
use crate::conversation::FieldError;
use crate::front::reply::{Request, Response};
use crate::front::{ApiError, Front};
use crate::knowledge::StoredDocument;

use super::super::form::Form;
#[cfg(feature = "knowledge")]
use super::super::multipart;
use super::super::render::{page, Tr};
use super::super::Viewer;
use super::fmt::{format_count, When};

/// Whether uploads and search run in this build (the core's `knowledge` feature). A constant
/// the template tests, so a build without the feature (the Worker) compiles their forms out.
pub(crate) const SUPPORTED: bool = cfg!(feature = "knowledge");

/// The longest question the page searches for (the admin API's limit).
const MAX_QUESTION_CHARS: usize = 1000;
#[cfg(feature = "knowledge")]
/// How many passages a tried question shows (what a reply from a large model gets).
const TRY_PASSAGES: usize = 5;

/// A stored document as the table shows it.
#[derive(Debug)]
struct DocumentRow {
    source: String,
    kind: String,
    chunks: String,
    embedding_model: Option<String>,
    updated: When,
}

/// A passage a tried question found.
#[derive(Debug)]
struct PassageRow {
    source: String,
    heading: String,
    score: String,
    text: String,
}

#[derive(Template)]
#[template(path = "web/knowledge.html")]
struct KnowledgePage<'a> {
    t: Tr,
    viewer: &'a Viewer,
    nav: &'static str,
    /// Uploads and search run on this deployment (the core's `knowledge` feature).
    supported: bool,
    documents: Vec<DocumentRow>,
    /// What the last action did, for the owner.
    notice: Option<String>,
    /// Why the last action changed nothing.
    errors: Vec<String>,
    /// The source typed in the paste form (kept on an error).
    source: String,
    /// The pasted text (kept on an error).
    text: String,
    /// The question tried, and what it found.
    question: String,
    tried: bool,
    passages: Vec<PassageRow>,
    envelope: String,
    max_upload: String,
}

/// What one render of the page shows besides the stored documents.
#[derive(Default)]
struct View {
    notice: Option<String>,
    errors: Vec<String>,
    source: String,
    text: String,
    question: String,
}

fn row(t: Tr, d: StoredDocument) -> DocumentRow {
    DocumentRow {
        chunks: format_count(t.0, i64::from(d.chunks)),
        updated: When::of(d.updated_at),
        source: d.source,
        kind: d.kind,
        embedding_model: d.embedding_model,
    }
}

async fn render(
    front: &Front<'_>,
    viewer: &Viewer,
    status: u16,
    view: View,
) -> Result<Response, ApiError> {
    let t = Tr(viewer.locale);
    let documents = if SUPPORTED {
        front
            .engine
            .knowledge_documents(&viewer.tenant)
            .await?
            .into_iter()
            .map(|d| row(t, d))
            .collect()
    } else {
        Vec::new()
    };
    let question = view.question.trim().to_owned();
    let tried = !question.is_empty();
    let (passages, envelope) = if tried {
        try_question(front, viewer, &question).await?
    } else {
        (Vec::new(), String::new())
    };
    page(
        status,
        &KnowledgePage {
            t,
            viewer,
            nav: "knowledge",
            supported: SUPPORTED,
            documents,
            notice: view.notice,
            errors: view.errors,
            source: view.source,
            text: view.text,
            question,
            tried,
            passages,
            envelope,
            max_upload: format_count(t.0, (crate::channels::MAX_BODY_BYTES / 1_000_000) as i64),
        },
    )
}

#[cfg(feature = "knowledge")]
/// The passages `question` finds and the envelope of a first reply carrying them.
async fn try_question(
    front: &Front<'_>,
    viewer: &Viewer,
    question: &str,
) -> Result<(Vec<PassageRow>, String), ApiError> {
    let found = front
        .engine
        .search_passages(&viewer.tenant, question, TRY_PASSAGES)
        .await?;
    let rows = found
        .iter()
        .map(|(chunk, score)| PassageRow {
            source: chunk.source.clone(),
            heading: chunk.heading_path(),
            score: format!("{score:.3}"),
            text: chunk.text.clone(),
        })
        .collect();
    let tenant = front.tenant(&viewer.tenant).await?;
    let chunks: Vec<_> = found.into_iter().map(|(chunk, _)| chunk).collect();
    let section = crate::prompt::KnowledgeSection {
        passages: &chunks,
        when_unknown: tenant.when_unknown,
    };
    let envelope = crate::ids::Channel::ALL
        .iter()
        .find_map(|&channel| {
            tenant
                .system_prompt_for(
                    channel,
                    None,
                    Some(&section),
                    front.engine.config().compact_envelope(),
                )
                .ok()
        })
        .unwrap_or_default();
    Ok((rows, envelope))
}

#[cfg(not(feature = "knowledge"))]
async fn try_question(
    _front: &Front<'_>,
    _viewer: &Viewer,
    _question: &str,
) -> Result<(Vec<PassageRow>, String), ApiError> {
    Ok((Vec::new(), String::new()))
}

/// `GET /dashboard/knowledge[?q=QUESTION]`: the documents, and what a question finds.
pub(super) async fn show(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<Response, ApiError> {
    let query = Form::from_bytes(req.uri().query().unwrap_or("").as_bytes());
    let mut view = View {
        question: query.text("q"),
        ..View::default()
    };
    if view.question.chars().count() > MAX_QUESTION_CHARS {
        view.errors
            .push(Tr(viewer.locale).arg("knowledge-question-too-long", "count", "1000"));
        view.question.clear();
        return render(front, viewer, 422, view).await;
    }
    render(front, viewer, 200, view).await
}

#[cfg(feature = "knowledge")]
/// A document's name as the owner gave it: a relative path of plain parts (`menus/lunch.md`),
/// as the admin API takes it; `None` when it is empty or has an empty, `.` or `..` part.
fn document_name(name: &str) -> Option<String> {
    let name = name.trim().replace('\\', "/");
    let parts: Vec<&str> = name.split('/').collect();
    let plain = |p: &&str| !p.is_empty() && *p != "." && *p != ".." && !p.contains('\0');
    (!name.is_empty() && parts.iter().all(plain) && name.chars().count() <= 200).then_some(name)
}

/// `POST /dashboard/knowledge`: stores the uploaded file (`multipart/form-data` with a
/// `document` file, named by `source` when given, else by its file name) or the pasted
/// `text` under `source`. A document that cannot be read is refused with why, and nothing
/// of it is stored.
pub(super) async fn upload(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<Response, ApiError> {
    #[cfg(not(feature = "knowledge"))]
    {
        let _ = (front, viewer, req);
        Err(ApiError::NotSupported(
            "the knowledge base is not on this deployment yet: run it on the server",
        ))
    }
    #[cfg(feature = "knowledge")]
    {
        let t = Tr(viewer.locale);
        let (name, bytes, text) = match multipart::parts(req) {
            Some(parts) => {
                let file = parts.iter().find(|p| p.name == "document");
                let named = multipart::text(&parts, "source").unwrap_or("").trim();
                let pasted = multipart::text(&parts, "text").unwrap_or("").to_owned();
                match file.filter(|f| f.filename.as_deref().is_some_and(|n| !n.is_empty())) {
                    Some(file) => {
                        let from_file = file.filename.as_deref().unwrap_or("");
                        // A browser sends the bare file name; keep only that much of any path.
                        let base = from_file.rsplit(['/', '\\']).next().unwrap_or("");
                        let name = if named.is_empty() { base } else { named };
                        (name.to_owned(), file.bytes.clone(), String::new())
                    }
                    None => (named.to_owned(), pasted.clone().into_bytes(), pasted),
                }
            }
            None => {
                let form = Form::parse(req);
                let text = form.raw("text").unwrap_or("").to_owned();
                (form.text("source"), text.clone().into_bytes(), text)
            }
        };
        let mut view = View {
            source: name.clone(),
            text,
            ..View::default()
        };
        let Some(source) = document_name(&name) else {
            view.errors.push(t.get("knowledge-error-name"));
            return render(front, viewer, 422, view).await;
        };
        if bytes.is_empty() {
            view.errors.push(t.get("knowledge-error-empty"));
            return render(front, viewer, 422, view).await;
        }
        match front
            .engine
            .ingest_document(&viewer.tenant, &source, &bytes)
            .await
        {
            Ok(outcome) => {
                let notice = match outcome {
                    crate::engine::IngestOutcome::Stored { chunks, .. } => crate::i18n::text_count(
                        t.0,
                        "knowledge-stored",
                        i64::from(chunks),
                        &[("source", &source)],
                    ),
                    crate::engine::IngestOutcome::Unchanged { .. } => {
                        t.arg("knowledge-unchanged", "source", &source)
                    }
                };
                let view = View {
                    notice: Some(notice),
                    ..View::default()
                };
                render(front, viewer, 200, view).await
            }
            Err(crate::engine::EngineError::Invalid(errors)) => {
                view.errors = errors.into_iter().map(|e: FieldError| e.message).collect();
                render(front, viewer, 422, view).await
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// `POST /dashboard/knowledge/delete` with `source`: removes that document.
pub(super) async fn delete(
    front: &Front<'_>,
    viewer: &Viewer,
    req: &Request,
) -> Result<Response, ApiError> {
    let t = Tr(viewer.locale);
    let form = Form::parse(req);
    let source = form.text("source");
    if source.is_empty()
        || !front
            .engine
            .delete_document(&viewer.tenant, &source)
            .await?
    {
        let view = View {
            errors: vec![t.arg("knowledge-error-missing", "source", &source)],
            ..View::default()
        };
        return render(front, viewer, 404, view).await;
    }
    let view = View {
        notice: Some(t.arg("knowledge-deleted", "source", &source)),
        ..View::default()
    };
    render(front, viewer, 200, view).await
}
