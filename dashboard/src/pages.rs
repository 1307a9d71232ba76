//! The pages: an HTML shell per page (searches, one search, fleet) that
//! `assets/app.js` fills from the API and keeps live from `/api/events`,
//! and the assets themselves, compiled into the binary.

use crate::api::error;
use crate::AppState;
// The five XML special characters, escaped as the cell pictures' text is:
// safe in HTML text and attribute values alike.
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use export::svg::escape;
use std::sync::Arc;

const APP_JS: &str = include_str!("../assets/app.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(searches))
        .route("/searches/{id}", get(search))
        .route("/fleet", get(fleet))
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page") })
        .with_state(state)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn shell(state: &AppState, page: &str, title: &str, id: &str) -> Html<String> {
    let admin = state.config.admin_token.is_some();
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · nas</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css">
</head>
<body data-page="{page}" data-id="{id}" data-admin="{admin}">
<header>
  <a class="brand" href="/">nas</a>
  <nav><a href="/" id="nav-searches">Searches</a> <a href="/fleet" id="nav-fleet">Fleet</a></nav>
  <span class="where">{label}</span>
  <span id="live" class="live" title="live updates">●</span>
  <form id="login" class="login" hidden>
    <input id="token" type="password" placeholder="admin token" autocomplete="current-password">
    <button type="submit">Log in</button>
  </form>
  <span id="who" class="who" hidden>admin <button id="logout" type="button">Log out</button></span>
</header>
<div id="flash" class="flash" hidden></div>
<main id="app"><p class="muted">Loading…</p></main>
<script src="/assets/app.js"></script>
</body>
</html>
"#,
        title = escape(title),
        page = page,
        id = escape(id),
        admin = admin,
        label = escape(&state.config.label),
    ))
}

async fn searches(State(state): State<Arc<AppState>>) -> Html<String> {
    shell(&state, "searches", "Searches", "")
}

async fn search(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Html<String> {
    shell(&state, "search", &format!("Search {id}"), &id)
}

async fn fleet(State(state): State<Arc<AppState>>) -> Html<String> {
    shell(&state, "fleet", "Fleet", "")
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(
            super::escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;"
        );
    }
}
