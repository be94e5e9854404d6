//! Multipart uploads of samples and captures: size limit, strict option parsing and
//! display-name sanitising (an uploaded file name is never used as a path).

use axum::extract::Multipart;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::http::{HeaderMap, header};

use crate::error::ApiError;

/// Upload limit when none is configured: 64 MiB.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 64 << 20;
/// Room for the multipart framing and the option fields on top of the file itself.
pub const FORM_OVERHEAD: u64 = 1 << 20;
/// Longest option field value.
const MAX_FIELD: usize = 64 << 10;
/// Longest display name, bytes.
const MAX_NAME: usize = 200;
/// Detonation time limit when the client names none, seconds.
pub const DEFAULT_TIMEOUT_SECS: u32 = 60;

/// How the `args` field is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgsField {
    /// Each `args` part is one argument (the API).
    PerPart,
    /// One `args` part, one argument per line (the web UI's text area).
    PerLine,
}

/// Options of a file task as sent by a client (validated by `TaskOptions::validate`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOptions {
    /// `timeout` in whole seconds.
    pub timeout_secs: Option<u32>,
    /// `net`: "fake" or "none".
    pub net: Option<String>,
    /// `arch` override.
    pub arch: Option<String>,
    /// `args` of the sample.
    pub args: Vec<String>,
}

/// A parsed upload.
#[derive(Debug, Default)]
pub struct Upload {
    /// Sanitised display name of the file.
    pub name: String,
    /// File content.
    pub data: Vec<u8>,
    /// Options (file tasks only).
    pub options: RawOptions,
    /// The `csrf` field, when a web-UI form sent one.
    pub csrf: Option<String>,
}

/// What an upload may contain.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Largest file, bytes.
    pub limit: u64,
    /// Whether analysis options are allowed (file tasks) or not (pcap tasks).
    pub options: bool,
    /// How `args` parts are read.
    pub args: ArgsField,
    /// Whether a `csrf` field is accepted (web-UI forms).
    pub csrf_field: bool,
}

/// A display name for an uploaded file: its last path component, control and
/// separator characters replaced, at most 200 bytes; "sample" if nothing is left.
pub fn display_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or("");
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let mut out = String::with_capacity(base.len().min(MAX_NAME));
    for c in base.chars() {
        if out.len() + c.len_utf8() > MAX_NAME {
            break;
        }
        out.push(if c.is_control() { '_' } else { c });
    }
    let trimmed = out.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." {
        "sample".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Refuses a body whose declared length is beyond the limit before reading any of it.
pub fn check_length(headers: &HeaderMap, limit: u64) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > limit.saturating_add(FORM_OVERHEAD) => Err(ApiError::too_large(limit)),
        _ => Ok(()),
    }
}

fn multipart_error(e: MultipartError, limit: u64) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::too_large(limit);
    }
    ApiError::bad_request(format!("malformed multipart body: {}", e.body_text()))
}

async fn text_field(mut field: Field<'_>, name: &str, limit: u64) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
        if buf.len() + chunk.len() > MAX_FIELD {
            return Err(ApiError::bad_request(format!(
                "field '{name}' is longer than {MAX_FIELD} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf)
        .map_err(|_| ApiError::bad_request(format!("field '{name}' is not UTF-8 text")))
}

/// Reads a multipart upload: exactly one `file` part and, when `rules.options`, the
/// option fields `timeout`, `net`, `arch` and `args`. Any other part is a 400.
pub async fn read(
    mp: Result<Multipart, MultipartRejection>,
    rules: Rules,
) -> Result<Upload, ApiError> {
    let mut mp = mp.map_err(|e| {
        ApiError::bad_request(format!(
            "expected a multipart/form-data body: {}",
            e.body_text()
        ))
    })?;
    let mut up = Upload::default();
    let mut have_file = false;
    let mut seen = [false; 3];
    while let Some(mut field) = mp
        .next_field()
        .await
        .map_err(|e| multipart_error(e, rules.limit))?
    {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "file" => {
                if have_file {
                    return Err(ApiError::bad_request("more than one 'file' part"));
                }
                have_file = true;
                up.name = display_name(field.file_name());
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| multipart_error(e, rules.limit))?
                {
                    if (up.data.len() + chunk.len()) as u64 > rules.limit {
                        return Err(ApiError::too_large(rules.limit));
                    }
                    up.data.extend_from_slice(&chunk);
                }
            }
            "csrf" if rules.csrf_field => {
                up.csrf = Some(text_field(field, "csrf", rules.limit).await?);
            }
            "timeout" | "net" | "arch" if rules.options => {
                let slot = match name.as_str() {
                    "timeout" => 0,
                    "net" => 1,
                    _ => 2,
                };
                if std::mem::replace(&mut seen[slot], true) {
                    return Err(ApiError::bad_request(format!(
                        "field '{name}' given more than once"
                    )));
                }
                let v = text_field(field, &name, rules.limit).await?;
                let v = v.trim();
                // An empty form field means "default" (HTML forms send every field).
                if v.is_empty() {
                    continue;
                }
                match slot {
                    0 => {
                        up.options.timeout_secs = Some(v.parse::<u32>().map_err(|_| {
                            ApiError::bad_request(format!(
                                "timeout must be a whole number of seconds, got {v:?}"
                            ))
                        })?)
                    }
                    1 => up.options.net = Some(v.to_owned()),
                    _ => up.options.arch = Some(v.to_owned()),
                }
            }
            "args" if rules.options => {
                let v = text_field(field, "args", rules.limit).await?;
                match rules.args {
                    ArgsField::PerPart => up.options.args.push(v),
                    ArgsField::PerLine => up.options.args.extend(
                        v.lines()
                            .map(|l| l.strip_suffix('\r').unwrap_or(l))
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned),
                    ),
                }
            }
            "" => return Err(ApiError::bad_request("a multipart part has no name")),
            other => {
                let expected = if rules.options {
                    "file, timeout, net, arch, args"
                } else {
                    "file"
                };
                return Err(ApiError::bad_request(format!(
                    "unknown field {:?} (expected {expected})",
                    other.chars().take(64).collect::<String>()
                )));
            }
        }
    }
    if !have_file {
        return Err(ApiError::bad_request("missing the 'file' part"));
    }
    if up.data.is_empty() {
        return Err(ApiError::bad_request("the uploaded file is empty"));
    }
    Ok(up)
}

/// Whether `data` starts like a pcap (any byte order, µs or ns) or pcapng capture.
pub fn is_capture(data: &[u8]) -> bool {
    matches!(
        data.get(..4),
        Some(
            [0xd4, 0xc3, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0xc3, 0xd4]
                | [0x4d, 0x3c, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0x3c, 0x4d]
                | [0x0a, 0x0d, 0x0d, 0x0a]
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_not_paths() {
        assert_eq!(display_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(display_name(Some("C:\\x\\evil.exe")), "evil.exe");
        assert_eq!(display_name(Some("a\nb\0c")), "a_b_c");
        assert_eq!(display_name(Some("..")), "sample");
        assert_eq!(display_name(Some("dir/")), "sample");
        assert_eq!(display_name(None), "sample");
        let long = "é".repeat(300);
        let n = display_name(Some(&long));
        assert!(n.len() <= 200 && n.chars().all(|c| c == 'é'));
    }

    #[test]
    fn capture_magic() {
        assert!(is_capture(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]));
        assert!(is_capture(&[0x0a, 0x0d, 0x0d, 0x0a]));
        assert!(!is_capture(b"\x7fELF"));
        assert!(!is_capture(&[0xd4]));
    }

    #[test]
    fn declared_length_checked_first() {
        let mut h = HeaderMap::new();
        assert!(check_length(&h, 10).is_ok());
        h.insert(
            header::CONTENT_LENGTH,
            (10 + FORM_OVERHEAD + 1).to_string().parse().unwrap(),
        );
        assert_eq!(
            check_length(&h, 10).unwrap_err().status,
            axum::http::StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
