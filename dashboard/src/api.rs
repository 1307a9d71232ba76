//! The JSON API behind the pages (documented in the README):
//!
//! - `GET /api/searches[?status=running|done|cancelled|failed]`
//! - `GET /api/searches/{id}`: the row, spec, best, leaders, final
//!   results, running jobs' notes, DARTS α over epochs, the plots' series
//! - `GET /api/searches/{id}/evaluations?after=&offset=&limit=&sort=&order=`
//! - `GET /api/searches/{id}/evaluations.csv`
//! - `GET /api/searches/{id}/cell.svg`: the best cell's picture
//! - `GET /api/fleet`: workers with their jobs, queue depths, dead letters
//! - `GET /api/events`: server-sent events, one `snapshot` per change
//! - `POST /api/login`, `POST /api/searches/{id}/cancel`,
//!   `POST /api/dead-letters/{job}/replay`: with `Authorization: Bearer`
//!
//! Errors are JSON `{"error": "..."}` with a status that says what
//! happened: 404 for an unknown search, 401 for a wrong token, 403 when the
//! dashboard is read-only.

// The handlers' helpers fail with the response to send, which is
// returned at once: its size does not matter here.
#![allow(clippy::result_large_err)]

use crate::evals;
use crate::poller::{self, Snapshot};
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

type Shared = Arc<AppState>;

/// The API's routes.
pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/searches", get(searches))
        .route("/api/searches/{id}", get(search))
        .route("/api/searches/{id}/evaluations", get(evaluations))
        .route("/api/searches/{id}/evaluations.csv", get(evaluations_csv))
        .route("/api/searches/{id}/cell.svg", get(cell_svg))
        .route("/api/searches/{id}/cancel", post(cancel))
        .route("/api/fleet", get(fleet))
        .route("/api/dead-letters/{job}/replay", post(replay))
        .route("/api/login", post(login))
        .route("/api/events", get(events))
        .with_state(state)
}

/// An error response: `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The current snapshot, waiting (a few seconds at most) for the first.
pub(crate) async fn current(state: &AppState) -> Arc<Snapshot> {
    let mut rx = state.snapshot.clone();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        rx.wait_for(|s| s.taken_ms > 0 || s.error.is_some()),
    )
    .await;
    let snap = rx.borrow().clone();
    snap
}

async fn healthz(State(state): State<Shared>) -> Response {
    let snap = current(&state).await;
    match &snap.error {
        None if snap.taken_ms > 0 => (StatusCode::OK, "ok").into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no poll yet").into_response(),
        Some(e) => (StatusCode::SERVICE_UNAVAILABLE, e.clone()).into_response(),
    }
}

#[derive(Deserialize)]
struct StatusFilter {
    status: Option<String>,
}

async fn searches(State(state): State<Shared>, Query(q): Query<StatusFilter>) -> Response {
    let snap = current(&state).await;
    let rows = poller::filter(&snap.rows, q.status.as_deref());
    Json(json!({
        "searches": rows,
        "taken_ms": snap.taken_ms,
        "error": snap.error,
    }))
    .into_response()
}

/// The search's state from the snapshot, or from the store if it is newer
/// than the last poll; 404 if there is none.
async fn state_of(
    state: &AppState,
    snap: &Snapshot,
    id: &str,
) -> Result<Arc<scheduler::SearchState>, Response> {
    if let Some(s) = snap.states.get(id) {
        return Ok(s.clone());
    }
    match state.source.store.load(id).await {
        Ok(Some(s)) => Ok(Arc::new(s)),
        Ok(None) => Err(error(StatusCode::NOT_FOUND, format!("no search {id}"))),
        Err(e) => Err(error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

async fn search(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let snap = current(&state).await;
    let s = match state_of(&state, &snap, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    // Searches retention removed leave the cache too.
    if snap.taken_ms > 0 {
        state
            .evals
            .retain(|sid| sid == id || snap.states.contains_key(sid))
            .await;
    }
    let cached = match state
        .evals
        .get(state.source.store.as_ref(), &id, s.updated_ms)
        .await
    {
        Ok(c) => c,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let series = evals::series(&cached.lock().await.evals, &s.spec.space);
    let row = snap.rows.iter().find(|r| r.id == id);
    let alphas: serde_json::Map<String, Value> = poller::alphas_of(&snap, &id)
        .into_iter()
        .map(|(job, seen)| (job.to_string(), json!(seen)))
        .collect();
    Json(json!({
        "row": row,
        "spec": s.spec,
        "best": s.best,
        "leaders": s.leaders,
        "final_started": s.final_started,
        "finals": s.finals,
        "notes": snap.notes.get(&id).cloned().unwrap_or_default(),
        "alphas": alphas,
        "series": series,
        "export": format!("nas export {id} --out {id}-export"),
        "admin": state.config.admin_token.is_some(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct TableQuery {
    after: Option<u64>,
    offset: Option<usize>,
    limit: Option<usize>,
    sort: Option<String>,
    order: Option<String>,
}

/// Most rows one table page returns.
const MAX_LIMIT: usize = 1000;

async fn evaluations(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<TableQuery>,
) -> Response {
    let snap = current(&state).await;
    let s = match state_of(&state, &snap, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let sort = q.sort.as_deref().unwrap_or("index");
    if !evals::SORTS.contains(&sort) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("sort {sort:?} is not one of {}", evals::SORTS.join(", ")),
        );
    }
    let desc = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("order {o:?} is not asc or desc"),
            )
        }
    };
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let cached = match state
        .evals
        .get(state.source.store.as_ref(), &id, s.updated_ms)
        .await
    {
        Ok(c) => c,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let page = evals::page(
        &cached.lock().await.evals,
        sort,
        desc,
        q.offset.unwrap_or(0),
        limit,
        q.after,
    );
    Json(page).into_response()
}

async fn evaluations_csv(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let snap = current(&state).await;
    let s = match state_of(&state, &snap, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let cached = match state
        .evals
        .get(state.source.store.as_ref(), &id, s.updated_ms)
        .await
    {
        Ok(c) => c,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let text = export::results::csv(&cached.lock().await.evals);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}-evaluations.csv\""),
            ),
        ],
        text,
    )
        .into_response()
}

async fn cell_svg(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let snap = current(&state).await;
    let s = match state_of(&state, &snap, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(best) = &s.best else {
        return error(
            StatusCode::NOT_FOUND,
            format!("search {id} has no best cell yet"),
        );
    };
    match s.spec.space.parse(&best.genotype) {
        Ok(g) => (
            [(header::CONTENT_TYPE, "image/svg+xml")],
            export::cell::cell_svg(&g, &format!("{id}: best cell")),
        )
            .into_response(),
        Err(e) => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the best genotype of {id} does not parse: {e}"),
        ),
    }
}

async fn fleet(State(state): State<Shared>) -> Response {
    let snap = current(&state).await;
    Json(json!({
        "fleet": snap.fleet,
        "searches": snap.rows.iter().filter(|r| r.status == "running").map(|r| json!({
            "id": r.id, "queued": r.counts.queued, "delayed": r.counts.delayed,
            "leased": r.counts.leased, "done": r.counts.done, "dead": r.counts.dead,
        })).collect::<Vec<_>>(),
        "taken_ms": snap.taken_ms,
        "error": snap.error,
    }))
    .into_response()
}

/// `Ok` if the request carries the admin token; the refusal otherwise.
fn authorized(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let Some(token) = &state.config.admin_token else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "this dashboard is read-only (it was started without an admin token)",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "wrong or missing admin token",
        ))
    }
}

async fn login(State(state): State<Shared>, headers: HeaderMap) -> Response {
    match authorized(&state, &headers) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

async fn cancel(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorized(&state, &headers) {
        return r;
    }
    let (store, queue) = (state.source.store.as_ref(), state.source.queue.as_ref());
    match scheduler::client::cancel(store, queue, &id).await {
        Ok(dropped) => {
            tracing::info!(search = %id, dropped, "search cancelled from the dashboard");
            Json(json!({ "cancelled": id, "dropped": dropped })).into_response()
        }
        Err(scheduler::client::ClientError::NoSuchSearch(_)) => {
            error(StatusCode::NOT_FOUND, format!("no search {id}"))
        }
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

#[derive(Deserialize)]
struct ReplayQuery {
    force: Option<bool>,
}

async fn replay(
    State(state): State<Shared>,
    Path(job): Path<String>,
    Query(q): Query<ReplayQuery>,
    headers: HeaderMap,
) -> Response {
    use scheduler::client::Replayed;
    if let Err(r) = authorized(&state, &headers) {
        return r;
    }
    let (store, queue) = (state.source.store.as_ref(), state.source.queue.as_ref());
    let force = q.force.unwrap_or(false);
    match scheduler::client::replay(store, queue, std::slice::from_ref(&job), force).await {
        Ok(out) => match out.into_iter().next().map(|(_, r)| r) {
            Some(Replayed::Queued { search }) => {
                tracing::info!(job = %job, search = %search, "dead letter replayed from the dashboard");
                Json(json!({ "replayed": job, "search": search })).into_response()
            }
            Some(Replayed::SearchEnded { search, status }) => error(
                StatusCode::CONFLICT,
                format!("job {job}'s search {search} is {status}: nothing would take its result"),
            ),
            _ => error(
                StatusCode::NOT_FOUND,
                format!("job {job} is not a dead letter"),
            ),
        },
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Server-sent events: a `snapshot` event (the searches' rows and the
/// fleet) now and after each poll that changed something.
async fn events(State(state): State<Shared>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.snapshot.clone();
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let snap = rx.borrow_and_update().clone();
        let data = json!({
            "version": snap.version,
            "taken_ms": snap.taken_ms,
            "searches": snap.rows,
            "fleet": snap.fleet,
            "notes": snap.notes,
            "error": snap.error,
        });
        let event = Event::default().event("snapshot").data(data.to_string());
        Some((Ok(event), (rx, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
