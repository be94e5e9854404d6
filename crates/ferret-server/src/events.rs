//! Server-side filtering and paging of a task's `events.jsonl` with the sysdig/Falco
//! filter language (ferret-filter).

use ferret_event::{Event, State};
use ferret_filter::Filter;

use crate::error::ApiError;

/// Events returned per page when the client names no limit.
pub const DEFAULT_LIMIT: u64 = 1000;
/// Largest page.
pub const MAX_LIMIT: u64 = 100_000;

/// One page of events: the raw lines (each ending in `\n`) and the number of events
/// that matched in the whole file.
#[derive(Debug, Default)]
pub struct Page {
    /// JSON lines of the page, as stored.
    pub body: Vec<u8>,
    /// Matching events in the whole file.
    pub total: u64,
    /// Events in `body`.
    pub returned: u64,
}

/// Compiles a filter expression; a bad one is a 400 carrying the column.
pub fn compile(expr: &str) -> Result<Filter, ApiError> {
    Filter::new(expr).map_err(|e| {
        let mut err =
            ApiError::bad_request(format!("bad filter at column {}: {}", e.col, e.message));
        err.column = Some(e.col);
        err
    })
}

/// Lines of `data` without their terminators, skipping blank ones and `#` comments (as
/// `ferret_event::read_json_lines` does).
fn lines(data: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    data.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace) && l.first() != Some(&b'#'))
}

/// The page `[offset, offset+limit)` of the events of `data` that match `filter`.
///
/// Every event goes through one process/fd state machine whether it matches or not,
/// so fields such as `proc.name` or `fd.name` resolve as they do in `ferret rules`.
pub fn page(
    data: &[u8],
    filter: Option<&Filter>,
    offset: u64,
    limit: u64,
) -> Result<Page, ApiError> {
    let mut out = Page::default();
    let end = offset.saturating_add(limit);
    let take = |out: &mut Page, line: &[u8]| {
        if out.total >= offset && out.total < end {
            out.body.extend_from_slice(line);
            out.body.push(b'\n');
            out.returned += 1;
        }
        out.total += 1;
    };
    let Some(filter) = filter else {
        // No filter: no parsing either.
        for (_, line) in lines(data) {
            take(&mut out, line);
        }
        return Ok(out);
    };
    let mut state = State::new();
    for (no, line) in lines(data) {
        let text = std::str::from_utf8(line)
            .map_err(|_| ApiError::internal("reading events", format!("line {no} is not UTF-8")))?;
        let ev = Event::from_json(text)
            .map_err(|e| ApiError::internal("reading events", format!("line {no}: {e}")))?;
        let view = state.update(&ev);
        if filter.matches(&ev, view) {
            take(&mut out, line);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut s = Vec::new();
        for (i, (ty, path)) in [
            ("openat", "/etc/passwd"),
            ("openat", "/tmp/x"),
            ("unlink", "/tmp/x"),
        ]
        .iter()
        .enumerate()
        {
            s.extend_from_slice(
                format!(
                    r#"{{"v":1,"ts":{},"pid":10,"tid":10,"type":"{ty}","args":{{"name":{{"path":"{path}"}}}},"ret":3}}"#,
                    1000 + i
                )
                .as_bytes(),
            );
            s.push(b'\n');
        }
        s
    }

    #[test]
    fn bad_filter_carries_its_column() {
        let err = compile("evt.type = openat and (").unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        let col = err.column.unwrap();
        assert!(col > 1, "{err}");
        assert!(err.message.contains(&format!("column {col}")), "{err}");
        let err = compile("no.such.field = 1").unwrap_err();
        assert_eq!(err.column, Some(1), "{err}");
    }

    #[test]
    fn pages_without_filter() {
        let data = sample();
        let p = page(&data, None, 1, 1).unwrap();
        assert_eq!((p.total, p.returned), (3, 1));
        assert!(std::str::from_utf8(&p.body).unwrap().contains("/tmp/x"));
        let p = page(&data, None, 5, 10).unwrap();
        assert_eq!((p.total, p.returned), (3, 0));
        assert!(p.body.is_empty());
    }

    #[test]
    fn filters_events() {
        let data = sample();
        let Ok(ev) = Event::from_json(
            std::str::from_utf8(data.split(|&b| b == b'\n').next().unwrap()).unwrap(),
        ) else {
            // The sample line must be valid in the event format; say so plainly if not.
            panic!("sample event does not parse")
        };
        assert_eq!(ev.ty, "openat");
        let f = compile("evt.type = openat").unwrap();
        let p = page(&data, Some(&f), 0, 100).unwrap();
        assert_eq!((p.total, p.returned), (2, 2));
        let f = compile("evt.type = unlink").unwrap();
        let p = page(&data, Some(&f), 0, 100).unwrap();
        assert_eq!(p.total, 1);
        assert!(std::str::from_utf8(&p.body).unwrap().contains("unlink"));
    }
}
