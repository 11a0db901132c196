//! The admin listener, on its own address so the service's own paths are never shadowed:
//! `/metrics` (Prometheus), `/report` (JSON; `?format=text` for people; `?top=N`), `/healthz`.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;

use super::Shared;
use super::body::ProxyBody;
use super::{metrics, report};

const INDEX: &str = "canaryc compare admin\n\n/metrics           Prometheus metrics (canary_compared_responses_total and more)\n/report            the top diverging endpoints and fields, with samples, as JSON\n/report?format=text  the same for people\n/report?top=N      at most N endpoints (20 by default)\n/healthz           200 while the comparator runs\n";

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn query<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub async fn handle(
    request: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<ProxyBody>, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "only GET and HEAD\n".into(),
        ));
    }
    let q = request.uri().query();
    let response = match request.uri().path() {
        "/metrics" => {
            let gauges = shared.gauges();
            let stats = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            let text = metrics::render(&shared.service, &stats, &shared.counters, gauges);
            reply(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                text,
            )
        }
        "/report" => {
            let top = query(q, "top")
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(20);
            let stats = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
            match query(q, "format").unwrap_or("json") {
                "text" => reply(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    report::text(&stats, &shared.service, top),
                ),
                "json" => {
                    let doc = report::json(&stats, &shared.service, top);
                    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
                    reply(StatusCode::OK, "application/json", text)
                }
                other => reply(
                    StatusCode::BAD_REQUEST,
                    "text/plain; charset=utf-8",
                    format!("unknown format `{other}`: use json or text\n"),
                ),
            }
        }
        "/healthz" => reply(StatusCode::OK, "text/plain; charset=utf-8", "ok\n".into()),
        "/" => reply(StatusCode::OK, "text/plain; charset=utf-8", INDEX.into()),
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("not found\n\n{INDEX}"),
        ),
    };
    Ok(response)
}
