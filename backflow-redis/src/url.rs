//! The connection address, whose credentials never leave it.

use std::fmt;

/// A Redis connection URL: `redis://[user:password@]host[:port][/db]` or
/// `redis+unix:///path/to/redis.sock[?user=u&pass=p]`.
///
/// The ACL user and password are kept inside: [`Debug`](fmt::Debug) and [`Display`](fmt::Display)
/// show a redacted form (`redis://***@host:6379/0`), and every error this crate builds from a
/// connection failure has the password scrubbed out of it.
///
/// ```
/// use backflow_redis::RedisUrl;
/// let url = RedisUrl::new("redis://worker:s3cret@127.0.0.1:6379/0").unwrap();
/// assert_eq!(url.to_string(), "redis://***@127.0.0.1:6379/0");
/// assert!(!format!("{url:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct RedisUrl {
    url: String,
    shown: String,
    secrets: Vec<String>,
}

impl RedisUrl {
    /// Checks the URL (the `redis` client parses it) and remembers how to show it safely.
    pub fn new(url: impl Into<String>) -> Result<RedisUrl, backflow::Error> {
        let url = url.into();
        let (shown, secrets) = redact(&url);
        let probe = RedisUrl {
            url,
            shown,
            secrets,
        };
        match redis::Client::open(probe.url.as_str()) {
            Ok(_) => Ok(probe),
            Err(e) => Err(probe.error("invalid connection URL", &e)),
        }
    }

    /// A `redis+unix://` URL for a socket path, without credentials.
    pub fn unix(path: impl AsRef<std::path::Path>) -> Result<RedisUrl, backflow::Error> {
        RedisUrl::new(format!("redis+unix://{}", path.as_ref().display()))
    }

    pub(crate) fn client(&self) -> redis::RedisResult<redis::Client> {
        redis::Client::open(self.url.as_str())
    }

    /// Removes every credential from `text`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.secrets {
            if !secret.is_empty() {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }

    /// A backflow error for a redis failure, credentials scrubbed.
    pub(crate) fn error(&self, what: &str, e: &redis::RedisError) -> backflow::Error {
        let message = self.scrub(&format!("redis ({}): {what}: {e}", self.shown));
        backflow::Error::new(backflow::ErrorKind::Custom, message)
    }
}

/// `(shown, secrets)`: the URL without user/password, and the raw and percent-decoded credentials.
fn redact(url: &str) -> (String, Vec<String>) {
    let mut secrets = Vec::new();
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    // Query parameters (`?user=..&pass=..` on unix URLs, and anything else) are hidden whole.
    let (rest, query) = match rest.find('?') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    if let Some(query) = query {
        for pair in query.split('&') {
            if let Some((_, v)) = pair.split_once('=') {
                push_secret(&mut secrets, v);
            }
        }
    }
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let mut shown = String::from(scheme);
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            for part in rest[..at].split(':') {
                push_secret(&mut secrets, part);
            }
            shown.push_str("***@");
            shown.push_str(&rest[at + 1..]);
        }
        None => shown.push_str(rest),
    }
    if query.is_some() {
        shown.push_str("?***");
    }
    (shown, secrets)
}

fn push_secret(secrets: &mut Vec<String>, raw: &str) {
    if raw.is_empty() {
        return;
    }
    secrets.push(raw.to_string());
    let decoded = percent_decode(raw);
    if decoded != raw {
        secrets.push(decoded);
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedisUrl").field(&self.shown).finish()
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_credentials_are_hidden_everywhere() {
        let url = RedisUrl::new("redis://alice:p%40ss@localhost:6390/2").unwrap();
        for text in [format!("{url}"), format!("{url:?}")] {
            assert!(!text.contains("alice") && !text.contains("p%40ss") && !text.contains("p@ss"));
            assert!(text.contains("localhost:6390/2"), "{text}");
        }
        assert_eq!(
            url.scrub("auth p@ss failed for alice"),
            "auth *** failed for ***"
        );
    }

    #[test]
    fn unix_query_credentials_are_hidden() {
        let url = RedisUrl::new("redis+unix:///tmp/r.sock?user=bob&pass=hunter2").unwrap();
        assert_eq!(url.to_string(), "redis+unix:///tmp/r.sock?***");
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    #[test]
    fn a_bad_url_is_an_error_without_the_password() {
        let e = RedisUrl::new("nosuch://carol:topsecret@host").unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(!text.contains("topsecret"), "{text}");
    }

    #[test]
    fn plain_urls_show_as_they_are() {
        let url = RedisUrl::new("redis://127.0.0.1:6379").unwrap();
        assert_eq!(url.to_string(), "redis://127.0.0.1:6379");
    }
}
