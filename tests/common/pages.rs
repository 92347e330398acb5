//! Driving the status pages as a browser does: sign in, read a page with the session cookie,
//! find the page's form token, post URL-encoded forms without following redirects.

use std::net::SocketAddr;

use sha2::Digest;

/// The hex SHA-256 of a token, as `[[auth.tokens]]` holds it.
pub fn hex(t: &str) -> String {
    sha2::Sha256::digest(t.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A TOML basic string.
pub fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A URL-encoded form body.
pub fn encode(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub trait Form {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl Form for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(encode(pairs))
    }
}

/// A client that shows redirects instead of following them (the forms answer 303).
pub fn no_redirects() -> reqwest::Client {
    commwatch::install_crypto_provider();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in at /login and returns the `name=value` cookie pair.
pub async fn sign_in(c: &reqwest::Client, addr: SocketAddr, token: &str) -> String {
    let r = c
        .post(format!("http://{addr}/login"))
        .form_body(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_string()
}

/// GET with a cookie header (the session, the language, or both joined by `; `).
pub async fn page(
    c: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    cookie: &str,
) -> (u16, String) {
    let r = c
        .get(format!("http://{addr}{path}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The value of the form token hidden in a page.
pub fn form_token(html: &str) -> String {
    let at = html
        .find("name=\"form_token\" value=\"")
        .expect("the page has a form token")
        + "name=\"form_token\" value=\"".len();
    html[at..at + 64].to_string()
}

/// POSTs a form, with a cookie header when given.
pub async fn post(
    c: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = c.post(format!("http://{addr}{path}")).form_body(form);
    if let Some(k) = cookie {
        rb = rb.header("cookie", k);
    }
    rb.send().await.unwrap()
}
