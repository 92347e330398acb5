//! A small client for the drill API, used by `commwatch drill ...` so drill leaders can run a
//! drill from a terminal on the server (or over an SSH tunnel) with the same rules as the page.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Drill, Note};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach commwatch at {0}: {1}")]
    Connect(String, reqwest::Error),
    #[error("commwatch answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from commwatch: {0}")]
    Decode(String),
    #[error("{0}")]
    Usage(String),
}

/// Talks to one running daemon.
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// `base` is the daemon's address, e.g. `http://127.0.0.1:9800`; `token` a bearer token
    /// (admin to start and stop, officer to add notes).
    pub fn new(base: &str, token: Option<String>) -> Result<Client, ClientError> {
        crate::install_crypto_provider();
        // No redirects: a private page redirects to the sign-in form, which is an error for a
        // script (it needs COMMWATCH_TOKEN), not a report to print.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Connect(base.to_string(), e))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            http,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req
            .send()
            .await
            .map_err(|e| ClientError::Connect(self.base.clone(), e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        if resp.status().is_redirection() {
            return Err(ClientError::Api {
                status,
                code: "sign_in_required".into(),
                message: "the page is private: set COMMWATCH_TOKEN to a viewer token or above"
                    .into(),
            });
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let hint = match (status, &self.token) {
            (401, None) => " (set COMMWATCH_TOKEN to the bearer token of an officer or admin)",
            (401, Some(_)) => " (the token in COMMWATCH_TOKEN is not known to this commwatch)",
            (403, Some(_)) => " (the token in COMMWATCH_TOKEN lacks the role for this)",
            _ => "",
        };
        Err(ClientError::Api {
            status,
            code: body["error"]["code"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
            message: format!(
                "{}{hint}",
                body["error"]["message"].as_str().unwrap_or("no message")
            ),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        self.send(req)
            .await?
            .json()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Starts a drill; `body` is the JSON of `POST /api/v1/drills`.
    pub async fn start(&self, body: &Value) -> Result<Drill, ClientError> {
        self.json(
            self.http
                .post(format!("{}/api/v1/drills", self.base))
                .json(body),
        )
        .await
    }

    pub async fn stop(&self, id: i64) -> Result<Drill, ClientError> {
        self.json(
            self.http
                .post(format!("{}/api/v1/drills/{id}/stop", self.base)),
        )
        .await
    }

    pub async fn list(&self, running: Option<bool>) -> Result<Vec<Drill>, ClientError> {
        let q = match running {
            Some(true) => "?running=true",
            Some(false) => "?running=false",
            None => "",
        };
        let v: Value = self
            .json(self.http.get(format!("{}/api/v1/drills{q}", self.base)))
            .await?;
        serde_json::from_value(v["drills"].clone()).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// Adds a note; `body` is the JSON of `POST /api/v1/drills/{id}/notes`.
    pub async fn note(&self, id: i64, body: &Value) -> Result<Note, ClientError> {
        self.json(
            self.http
                .post(format!("{}/api/v1/drills/{id}/notes", self.base))
                .json(body),
        )
        .await
    }

    /// The report as served at `/drills/{id}` (`html`), `/drills/{id}.csv` or `.json`. The HTML
    /// is made standalone (stylesheet inline, no script) so the saved file reads and prints the
    /// same when opened from disk, away from the daemon.
    pub async fn report(&self, id: i64, format: &str, lang: &str) -> Result<String, ClientError> {
        let suffix = match format {
            "csv" => ".csv",
            "json" => ".json",
            _ => "",
        };
        let text = self
            .text(&format!("{}/drills/{id}{suffix}?lang={lang}", self.base))
            .await?;
        if !suffix.is_empty() {
            return Ok(text);
        }
        let css = self
            .text(&format!("{}/assets/commwatch.css", self.base))
            .await?;
        Ok(standalone(&text, &css))
    }

    async fn text(&self, url: &str) -> Result<String, ClientError> {
        self.send(self.http.get(url))
            .await?
            .text()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }
}

/// Puts the stylesheet inline and drops the page script (live updates need the daemon).
fn standalone(html: &str, css: &str) -> String {
    let mut out = html.to_string();
    if let Some(start) = out.find("<link rel=\"stylesheet\"")
        && let Some(len) = out[start..].find('>')
    {
        out.replace_range(start..=start + len, &format!("<style>{css}</style>"));
    }
    if let Some(start) = out.find("<script src=\"/assets/")
        && let Some(len) = out[start..].find("</script>")
    {
        out.replace_range(start..start + len + "</script>".len(), "");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::standalone;

    #[test]
    fn saved_reports_carry_their_style_and_no_script() {
        let page = "<head><link rel=\"stylesheet\" href=\"/assets/commwatch.css?v=1\"><script src=\"/assets/commwatch.js?v=1\" defer></script></head><body>x</body>";
        let out = standalone(page, "body{color:red}");
        assert_eq!(
            out,
            "<head><style>body{color:red}</style></head><body>x</body>"
        );
    }
}
