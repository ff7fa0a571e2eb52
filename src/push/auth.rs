//! Entra ID client-credentials tokens (docs/design.md#entra-id-tokens): one
//! token per run, asked for with the run's credential (credential.rs),
//! cached and renewed shortly before `expires_in` runs out; Entra's error
//! answers explained. No secret ever reaches a message, a log or a `Debug`
//! output.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::Agent;

use crate::cli::interrupt::Interrupt;
use crate::error::{Error, Result};
use crate::http;
use crate::http::retry::{self, GaveUp, Policy, Step, Stop};
use crate::push::credential::Credential;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Who asks for tokens, and for what.
#[derive(Debug)]
pub struct AuthSettings {
    pub tenant_id: String,
    pub client_id: String,
    /// `<authority>/<tenant>/oauth2/v2.0/token`.
    pub token_url: String,
    pub scope: String,
    pub credential: Credential,
}

impl AuthSettings {
    pub fn new(
        authority: &str,
        tenant_id: &str,
        client_id: &str,
        scope: &str,
        credential: Credential,
    ) -> Result<Self> {
        let tenant_id = tenant_id.trim();
        if tenant_id.is_empty()
            || !tenant_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(Error::usage(format!(
                "tenant id {tenant_id:?} is not a GUID or domain name (AZURE_TENANT_ID or --tenant-id)"
            )));
        }
        if client_id.trim().is_empty() {
            return Err(Error::usage(
                "no client id: set AZURE_CLIENT_ID or --client-id",
            ));
        }
        Ok(AuthSettings {
            token_url: format!("{authority}/{tenant_id}/oauth2/v2.0/token"),
            tenant_id: tenant_id.to_string(),
            client_id: client_id.trim().to_string(),
            scope: scope.to_string(),
            credential,
        })
    }
}

struct Cached {
    token: String,
    renew_at: Instant,
}

/// Hands out the current token, fetching a new one when it is due.
pub struct TokenSource {
    settings: AuthSettings,
    agent: Agent,
    cache: Mutex<Option<Cached>>,
    retry_base: Duration,
    max_retries: u32,
    interrupt: Interrupt,
    /// Tokens fetched this run.
    fetched: std::sync::atomic::AtomicU32,
}

impl TokenSource {
    pub fn new(
        settings: AuthSettings,
        agent: Agent,
        retry_base: Duration,
        max_retries: u32,
        interrupt: Interrupt,
    ) -> Self {
        TokenSource {
            settings,
            agent,
            cache: Mutex::new(None),
            retry_base,
            max_retries,
            interrupt,
            fetched: Default::default(),
        }
    }

    pub fn fetched(&self) -> u32 {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The cached token, or a new one when it is due for renewal.
    pub fn token(&self) -> Result<String> {
        let mut cache = self.cache.lock().expect("token lock");
        if let Some(c) = cache.as_ref() {
            if Instant::now() < c.renew_at {
                return Ok(c.token.clone());
            }
        }
        let fresh = self.fetch()?;
        let token = fresh.token.clone();
        *cache = Some(fresh);
        Ok(token)
    }

    /// After a 401: drops `stale` (unless another thread already replaced it)
    /// and returns a fresh token.
    pub fn renew(&self, stale: &str) -> Result<String> {
        {
            let mut cache = self.cache.lock().expect("token lock");
            if cache.as_ref().is_some_and(|c| c.token == stale) {
                *cache = None;
            }
        }
        self.token()
    }

    fn form(&self) -> Result<Vec<(&'static str, String)>> {
        let s = &self.settings;
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", s.client_id.clone()),
            ("scope", s.scope.clone()),
        ];
        match &s.credential {
            Credential::Secret(secret) => form.push(("client_secret", secret.clone())),
            Credential::Certificate(c) => {
                form.push(("client_assertion_type", ASSERTION_TYPE.to_string()));
                form.push(("client_assertion", c.assertion(&s.client_id, &s.token_url)?));
            }
            Credential::Federated(path) => {
                let jwt = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                form.push(("client_assertion_type", ASSERTION_TYPE.to_string()));
                form.push(("client_assertion", jwt.trim().to_string()));
            }
        }
        Ok(form)
    }

    /// One token request, retried on 429, 5xx and network errors.
    fn fetch(&self) -> Result<Cached> {
        let policy = Policy::new(self.max_retries, self.retry_base).interruptible(&self.interrupt);
        match retry::run(&policy, || self.request(), |_, _| {}) {
            Ok(done) => done,
            Err(GaveUp {
                why: Stop::Interrupted,
                ..
            }) => Err(Error::Interrupted(
                self.interrupt
                    .exit_code()
                    .unwrap_or(crate::cli::exit::SIGTERM),
            )),
            Err(gave_up) => Err(gave_up.last),
        }
    }

    /// One attempt at a token; a failure worth retrying carries the error
    /// to end with if it is the last.
    fn request(&self) -> Step<Result<Cached>, Error> {
        let url = &self.settings.token_url;
        let form = match self.form() {
            Ok(f) => f,
            Err(e) => return Step::Done(Err(e)),
        };
        let started = Instant::now();
        let sent = self
            .agent
            .post(url)
            .header("Accept", "application/json")
            .send_form(form.iter().map(|(k, v)| (*k, v.as_str())));
        let mut resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                let unreachable = Error::Http {
                    url: url.clone(),
                    status: None,
                    msg: format!("token endpoint unreachable: {e}"),
                };
                return Step::Retry(unreachable, None);
            }
        };
        let status = resp.status().as_u16();
        let retry_after = http::retry_after(&resp);
        let body = http::body_text(&mut resp, 1 << 20).unwrap_or_default();
        if status == 200 {
            self.fetched
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Step::Done(parse_token(url, &body, started));
        }
        if !http::is_retryable_status(status) {
            return Step::Done(Err(token_error(url, status, &body)));
        }
        let still = Error::Http {
            url: url.clone(),
            status: Some(status),
            msg: format!(
                "token endpoint still answering {status} after {} retries",
                self.max_retries
            ),
        };
        Step::Retry(still, retry_after)
    }
}

/// Reads a token answer; renewal is due a little before `expires_in` ends.
fn parse_token(url: &str, body: &str, started: Instant) -> Result<Cached> {
    let v: Value = serde_json::from_str(body).map_err(|e| Error::Http {
        url: url.to_string(),
        status: Some(200),
        msg: format!("token answer is not JSON: {e}"),
    })?;
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::Http {
            url: url.to_string(),
            status: Some(200),
            msg: "token answer without access_token".to_string(),
        })?;
    let expires_in = match v.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .unwrap_or(3599);
    Ok(Cached {
        token: token.to_string(),
        renew_at: started + Duration::from_secs(expires_in) - renewal_margin(expires_in),
    })
}

/// How long before expiry a token is renewed: five minutes, or a quarter of
/// a short lifetime.
pub fn renewal_margin(expires_in: u64) -> Duration {
    Duration::from_secs(300).min(Duration::from_secs_f64(expires_in as f64 / 4.0))
}

/// An Entra error answer as an authentication error (exit 4), with a hint.
pub fn token_error(url: &str, status: u16, body: &str) -> Error {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = v
        .get("error")
        .and_then(Value::as_str)
        .map(|e| e.replace(['\r', '\n'], " "));
    let description = v.get("error_description").and_then(Value::as_str).map(|d| {
        // Trace and correlation ids are noise here; `error_codes` is kept.
        // Entra puts "\r\n" (not a space) before "Trace ID:" in real answers.
        d.split("Trace ID:")
            .next()
            .unwrap_or(d)
            .trim()
            .replace(['\r', '\n'], " ")
    });
    let mut codes: Vec<u64> = v
        .get("error_codes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    if codes.is_empty() {
        if let Some(d) = &description {
            if let Some(i) = d.find("AADSTS") {
                let digits: String = d[i + 6..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                codes.extend(digits.parse::<u64>().ok());
            }
        }
    }
    let what = match (error, &description) {
        (Some(e), Some(d)) => format!("{e}: {d}"),
        (Some(e), None) => e.to_string(),
        (None, _) => format!(
            "unexpected answer: {}",
            crate::push::targets::error_text(body)
        ),
    };
    let hint = codes.iter().find_map(|c| hint(*c));
    let err = match hint {
        Some(h) => format!("token request to {url} failed (HTTP {status}): {what} (hint: {h})"),
        None => format!("token request to {url} failed (HTTP {status}): {what}"),
    };
    if matches!(status, 400 | 401 | 403) {
        Error::Auth(err)
    } else {
        Error::Http {
            url: url.to_string(),
            status: Some(status),
            msg: err,
        }
    }
}

/// What to do about the AADSTS codes a daemon meets (docs/design.md#entra-id-tokens).
fn hint(code: u64) -> Option<&'static str> {
    Some(match code {
        7000215 => "wrong client secret: use the secret's Value, not its Secret ID",
        7000222 => "the client secret has expired: create a new one in the app registration",
        7000218 => "no secret or certificate was sent: set AZURE_CLIENT_SECRET or --client-secret-file",
        700016 => "no such application in this tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID, and that an admin consented",
        90002 => "tenant not found: check AZURE_TENANT_ID and --cloud",
        500011 => "the API is not provisioned in the tenant: an admin must consent to the API permission (Defender: WindowsDefenderATP, Ti.ReadWrite.All)",
        65001 => "admin consent missing for the API permission",
        70011 => "invalid scope: check --target, --cloud and --scope",
        90038 => "the tenant lives in a national cloud: set --cloud",
        700027 | 700024 => "the certificate is not registered on the app, or its assertion is invalid: upload the certificate to the app registration",
        90055 => "the tenant is throttled: try again later",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_carry_entra_text_and_a_hint() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret is provided. Trace ID: 1 Correlation ID: 2","error_codes":[7000215]}"#;
        let e = token_error("https://login.example/t/oauth2/v2.0/token", 401, body);
        assert_eq!(e.exit_code(), 4);
        let msg = e.to_string();
        assert!(msg.contains("invalid_client: AADSTS7000215: Invalid client secret is provided."));
        assert!(msg.contains("Value, not its Secret ID"));
        assert!(!msg.contains("Trace ID"));
        let e = token_error(
            "u",
            400,
            r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found."}"#,
        );
        assert!(e.to_string().contains("check AZURE_TENANT_ID"));
    }

    #[test]
    fn renewal_comes_before_expiry() {
        assert_eq!(renewal_margin(3599), Duration::from_secs(300));
        assert_eq!(renewal_margin(4), Duration::from_secs(1));
        let c = parse_token(
            "u",
            r#"{"access_token":"t","expires_in":"3599"}"#,
            Instant::now(),
        )
        .unwrap();
        assert!(c.renew_at > Instant::now() + Duration::from_secs(3000));
    }

    #[test]
    fn tenant_ids_are_checked() {
        let mk =
            |t: &str| AuthSettings::new("https://a", t, "c", "s", Credential::Secret("x".into()));
        assert!(mk("contoso.onmicrosoft.com").is_ok());
        assert!(mk("../x").is_err());
        assert_eq!(
            mk("t1").unwrap().token_url,
            "https://a/t1/oauth2/v2.0/token"
        );
    }
}
