//! Prometheus's HTTP API, as text: the request for an instant query and the parse of its
//! answer. Plain HTTP/1.0 (the server closes the connection after the body, so there is no
//! chunked encoding to undo), which is all `monitor.prometheus` allows (CNR516).

/// `(host:port, path prefix)` from `http://host:port/prefix`.
pub fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{}", p.trim_end_matches('/'))),
        None => (rest, String::new()),
    };
    if host.is_empty() {
        return None;
    }
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    Some((host, if path == "/" { String::new() } else { path }))
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The request for `query` evaluated now.
pub fn query_request(host: &str, prefix: &str, query: &str) -> String {
    format!(
        "GET {prefix}/api/v1/query?query={} HTTP/1.0\r\nHost: {host}\r\nAccept: application/json\r\nUser-Agent: canaryc-promote\r\n\r\n",
        encode(query)
    )
}

/// One sample of an instant vector: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// The samples of an instant-vector answer, or what went wrong.
pub fn parse_response(response: &str) -> Result<Vec<Sample>, String> {
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| "Prometheus sent no HTTP response".to_string())?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    let doc: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| format!("Prometheus answered HTTP {status} with no JSON: {e}"))?;
    if doc["status"] != "success" {
        return Err(format!(
            "Prometheus refused the query (HTTP {status}): {}",
            doc["error"].as_str().unwrap_or("no reason given")
        ));
    }
    let result = doc["data"]["result"]
        .as_array()
        .ok_or_else(|| "Prometheus's answer has no result".to_string())?;
    Ok(result
        .iter()
        .map(|r| Sample {
            labels: r["metric"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            value: r["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::NAN),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_requests() {
        assert_eq!(
            split_url("http://prometheus:9090"),
            Some(("prometheus:9090".into(), String::new()))
        );
        assert_eq!(
            split_url("http://host/prom/"),
            Some(("host:80".into(), "/prom".into()))
        );
        assert_eq!(split_url("https://x"), None);
        let r = query_request("h:1", "", "sum(rate(x{a=\"b\"}[5m])) > 1");
        assert!(r.starts_with("GET /api/v1/query?query=sum%28rate%28x%7Ba%3D%22b%22%7D%5B5m%5D%29%29%20%3E%201 HTTP/1.0\r\n"));
    }

    #[test]
    fn parses_vectors_and_errors() {
        let ok = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"service\":\"shop\"},\"value\":[1700000000.1,\"0.25\"]},{\"metric\":{},\"value\":[1,\"NaN\"]}]}}";
        let samples = parse_response(ok).unwrap();
        assert_eq!(samples[0].value, 0.25);
        assert_eq!(samples[0].labels, vec![("service".into(), "shop".into())]);
        assert!(samples[1].value.is_nan());
        let bad = "HTTP/1.0 400 Bad Request\r\n\r\n{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse error\"}";
        assert!(parse_response(bad).unwrap_err().contains("parse error"));
    }
}
