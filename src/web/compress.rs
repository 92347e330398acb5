//! Gzip for pages, fragments, assets and large JSON when the client accepts it: the overview of
//! a province has to load over a failing 3G link.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use warp::http::HeaderValue;
use warp::http::header::{CONTENT_ENCODING, CONTENT_TYPE, VARY};

/// Bodies smaller than this are sent as they are: gzip would save nothing worth the CPU.
const MIN_SIZE: usize = 1_024;

/// Whether an `Accept-Encoding` header value allows gzip (and does not refuse it with `q=0`).
pub fn accepts_gzip(header: Option<&str>) -> bool {
    let Some(h) = header else { return false };
    h.split(',').any(|part| {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim();
        if !coding.eq_ignore_ascii_case("gzip") && coding != "*" {
            return false;
        }
        // `gzip;q=0` means "never gzip".
        !it.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        })
    })
}

/// Gzips `body` at the default level.
pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::default());
    enc.write_all(body)?;
    enc.finish()
}

/// A 200 response with `body`, gzipped when `gzip_ok` and worth it.
pub fn respond(body: Vec<u8>, content_type: &'static str, gzip_ok: bool) -> warp::reply::Response {
    let compressed = if gzip_ok && body.len() >= MIN_SIZE {
        // Compressing into memory cannot fail short of allocation failure; fall back to the
        // plain body if it somehow does.
        gzip(&body).ok()
    } else {
        None
    };
    let mut r = match compressed {
        Some(z) => {
            let mut r = warp::reply::Response::new(z.into());
            r.headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        None => warp::reply::Response::new(body.into()),
    };
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(VARY, HeaderValue::from_static("accept-encoding, cookie"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_accept_encoding() {
        assert!(accepts_gzip(Some("gzip, deflate, br")));
        assert!(accepts_gzip(Some("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("br")));
        assert!(!accepts_gzip(None));
    }

    #[test]
    fn round_trips() {
        use std::io::Read;
        let body = "Cẩm Xuyên ".repeat(500);
        let z = gzip(body.as_bytes()).unwrap();
        assert!(z.len() < body.len() / 10);
        let mut out = String::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, body);
    }
}
