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
        Err(ClientError::Api {
            status,
            code: body["error"]["code"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
            message: body["error"]["message"]
                .as_str()
                .unwrap_or("no message")
                .to_string(),
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

    /// The report as served at `/drills/{id}` (`html`), `/drills/{id}.csv` or `.json`.
    pub async fn report(&self, id: i64, format: &str, lang: &str) -> Result<String, ClientError> {
        let suffix = match format {
            "csv" => ".csv",
            "json" => ".json",
            _ => "",
        };
        self.send(
            self.http
                .get(format!("{}/drills/{id}{suffix}?lang={lang}", self.base)),
        )
        .await?
        .text()
        .await
        .map_err(|e| ClientError::Decode(e.to_string()))
    }
}
