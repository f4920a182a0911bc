//! RFC 8555 as a sequence of blocking calls: the directory, the account, an order, its
//! authorizations and challenges, finalization, the certificate; and RFC 9773's renewal
//! information. Every request is a JWS signed with the account key (ES256), and every
//! response's nonce is kept for the next one.
//!
//! This module talks to the CA and says what it did; deciding *when* to order, where the
//! files go and what to retry is `acme/mod.rs`'s job.

use super::Challenges;
use super::codec::{Json, b64url, pem, quote};
use super::der;
use super::https::{Client, Response};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use std::time::Duration;

/// A CA that answers "badNonce" gets a fresh nonce this many times per request (RFC 8555
/// §6.5: the error response carries the new nonce) before the request counts as failed.
const BAD_NONCE_RETRIES: usize = 5;
/// How long validation and issuance may take before the attempt is given up (and retried
/// later from the start): Let's Encrypt takes seconds.
const POLL_LIMIT: Duration = Duration::from_secs(300);
/// Waits between polls when the CA sends no Retry-After, and the most we wait for one.
const POLL_FIRST: Duration = Duration::from_secs(1);
const POLL_MAX: Duration = Duration::from_secs(30);
const ERROR_NS: &str = "urn:ietf:params:acme:error:";

/// Why an attempt failed, and what the CA said about when to try again.
#[derive(Debug)]
pub struct Failure {
    pub msg: String,
    /// Seconds, from a Retry-After on the failing answer (rate limits).
    pub retry_after: Option<u64>,
    /// The CA tried a challenge and it failed: the next order should offer the other kind.
    pub validation_failed: bool,
}

impl Failure {
    fn new(msg: String) -> Failure {
        Failure {
            msg,
            retry_after: None,
            validation_failed: false,
        }
    }
}

impl From<String> for Failure {
    fn from(msg: String) -> Failure {
        Failure::new(msg)
    }
}

/// The challenge kinds we answer (RFC 8555 §8.3, RFC 8737).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http01,
    TlsAlpn01,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Http01 => "http-01",
            Kind::TlsAlpn01 => "tls-alpn-01",
        }
    }
    pub fn other(self) -> Kind {
        match self {
            Kind::Http01 => Kind::TlsAlpn01,
            Kind::TlsAlpn01 => Kind::Http01,
        }
    }
}

/// The account key and what is derived from it once.
pub struct Account {
    key: EcdsaKeyPair,
    /// The public key as a JWK, members in the order RFC 7638 §3 hashes them.
    jwk: String,
    /// base64url(SHA-256(jwk)), the second half of every key authorization.
    thumbprint: String,
}

impl Account {
    pub fn from_pkcs8(pkcs8: &[u8]) -> Option<Account> {
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).ok()?;
        let jwk = jwk_of(key.public_key().as_ref())?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jwk.as_bytes());
        let thumbprint = b64url(digest.as_ref());
        Some(Account {
            key,
            jwk,
            thumbprint,
        })
    }

    /// A new account key, as PKCS#8 DER.
    pub fn generate() -> Option<Vec<u8>> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .ok()
            .map(|d| d.as_ref().to_vec())
    }

    /// RFC 8555 §8.1: token "." base64url(JWK thumbprint).
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint)
    }

    /// The flattened JWS JSON (RFC 8555 §6.2) of `payload` ("" for POST-as-GET), naming the
    /// key by `kid` once the account exists, by the JWK itself before.
    pub fn jws(&self, url: &str, nonce: &str, kid: Option<&str>, payload: &str) -> Option<String> {
        let key_ref = match kid {
            Some(kid) => format!("\"kid\":{}", quote(kid)),
            None => format!("\"jwk\":{}", self.jwk),
        };
        let protected = b64url(
            format!(
                "{{\"alg\":\"ES256\",{key_ref},\"nonce\":{},\"url\":{}}}",
                quote(nonce),
                quote(url)
            )
            .as_bytes(),
        );
        let payload = b64url(payload.as_bytes());
        let signing_input = format!("{protected}.{payload}");
        let sig = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .ok()?;
        Some(format!(
            "{{\"protected\":\"{protected}\",\"payload\":\"{payload}\",\"signature\":\"{}\"}}",
            b64url(sig.as_ref())
        ))
    }
}

/// The JWK of a P-256 public key given as an uncompressed point (RFC 7518 §6.2.1), with
/// the required members in lexicographic order and no whitespace (RFC 7638 §3.2).
fn jwk_of(point: &[u8]) -> Option<String> {
    if point.len() != 65 || point[0] != 4 {
        return None;
    }
    Some(format!(
        "{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
        b64url(&point[1..33]),
        b64url(&point[33..])
    ))
}

/// RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(serial number's DER content).
pub fn ari_cert_id(leaf: &[u8]) -> Option<String> {
    let aki = crate::tls::x509::authority_key_id(leaf)?;
    let serial = crate::tls::x509::serial(leaf)?;
    Some(format!("{}.{}", b64url(aki), b64url(serial)))
}

/// The URLs of a CA's directory (RFC 8555 §7.1.1, RFC 9773 §3).
pub struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
    pub renewal_info: Option<String>,
    /// meta.termsOfService: what registering agrees to, named in the log.
    terms: String,
}

impl Directory {
    pub fn fetch(client: &Client, url: &str) -> Result<Directory, Failure> {
        let r = client.get(url)?;
        let json = ok_json(&r, "the directory")?;
        let need = |k: &str| -> Result<String, Failure> {
            match json.text(k) {
                "" => Err(Failure::new(format!("the directory at {url} has no {k}"))),
                v => Ok(v.to_string()),
            }
        };
        Ok(Directory {
            new_nonce: need("newNonce")?,
            new_account: need("newAccount")?,
            new_order: need("newOrder")?,
            renewal_info: Some(json.text("renewalInfo").to_string()).filter(|s| !s.is_empty()),
            terms: json
                .get("meta")
                .map(|m| m.text("termsOfService").to_string())
                .unwrap_or_default(),
        })
    }
}

/// A suggested renewal window (RFC 9773 §4.2), Unix seconds, and when to ask again.
pub struct RenewalInfo {
    pub start: u64,
    pub end: u64,
    pub retry_after: Option<u64>,
}

pub fn renewal_info(client: &Client, dir: &Directory, leaf: &[u8]) -> Result<RenewalInfo, Failure> {
    let base = dir.renewal_info.as_deref().unwrap_or_default();
    let id =
        ari_cert_id(leaf).ok_or("the certificate has no authority key id or serial".to_string())?;
    let r = client.get(&format!("{}/{id}", base.trim_end_matches('/')))?;
    let json = ok_json(&r, "the renewal information")?;
    let window = json.get("suggestedWindow");
    let time = |k| window.map(|w| w.text(k)).and_then(parse_rfc3339);
    match (time("start"), time("end")) {
        (Some(start), Some(end)) if start < end => Ok(RenewalInfo {
            start,
            end,
            retry_after: retry_after(&r),
        }),
        _ => Err(Failure::new(
            "the renewal information has no valid suggestedWindow".into(),
        )),
    }
}

/// One conversation with the CA: the directory, the account and the current nonce.
pub struct Session<'a> {
    client: &'a Client,
    dir: &'a Directory,
    account: &'a Account,
    kid: Option<String>,
    nonce: Option<String>,
}

/// What an order produced: the chain and its key, as PEM.
pub struct Issued {
    pub chain_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl<'a> Session<'a> {
    pub fn new(client: &'a Client, dir: &'a Directory, account: &'a Account) -> Session<'a> {
        Session {
            client,
            dir,
            account,
            kid: None,
            nonce: None,
        }
    }

    /// A signed POST; a badNonce answer is retried with the nonce it carries.
    fn post(&mut self, url: &str, payload: &str) -> Result<Response, Failure> {
        for _ in 0..=BAD_NONCE_RETRIES {
            let nonce = match self.nonce.take() {
                Some(n) => n,
                None => {
                    let r = self.client.head(&self.dir.new_nonce)?;
                    r.header("replay-nonce")
                        .ok_or(format!("{}: no Replay-Nonce", self.dir.new_nonce))?
                        .to_string()
                }
            };
            let body = self
                .account
                .jws(url, &nonce, self.kid.as_deref(), payload)
                .ok_or("signing with the account key failed".to_string())?;
            let r = self.client.post_jose(url, body.as_bytes())?;
            self.nonce = r.header("replay-nonce").map(str::to_string);
            if r.status >= 400 && problem_type(&r) == "badNonce" {
                continue;
            }
            return Ok(r);
        }
        Err(Failure::new(format!(
            "{url}: the CA refused {BAD_NONCE_RETRIES} fresh nonces in a row (badNonce)"
        )))
    }

    /// RFC 8555 §7.3: find or create the account for our key.
    pub fn account(&mut self, email: Option<&str>) -> Result<(), Failure> {
        let contact = email
            .map(|e| format!(",\"contact\":[{}]", quote(&format!("mailto:{e}"))))
            .unwrap_or_default();
        let url = self.dir.new_account.clone();
        let r = self.post(&url, &format!("{{\"termsOfServiceAgreed\":true{contact}}}"))?;
        ok_json(&r, "creating the account")?;
        let kid = r
            .header("location")
            .ok_or("the new account answer has no Location".to_string())?;
        if r.status == 201 {
            let terms = match self.dir.terms.as_str() {
                "" => String::new(),
                t => format!(", agreeing to the CA's terms of service at {t}"),
            };
            log(format_args!("account {kid} created{terms}"));
        }
        self.kid = Some(kid.to_string());
        Ok(())
    }

    /// RFC 8555 §7.4: order, authorize, finalize and download a certificate for `domains`.
    pub fn order(
        &mut self,
        domains: &[String],
        replaces: Option<&str>,
        challenges: &Challenges,
        prefer: Kind,
    ) -> Result<Issued, Failure> {
        let ids: Vec<String> = domains
            .iter()
            .map(|d| format!("{{\"type\":\"dns\",\"value\":{}}}", quote(d)))
            .collect();
        let ids = ids.join(",");
        let url = self.dir.new_order.clone();
        let mut r = match replaces {
            Some(id) => {
                let r = self.post(
                    &url,
                    &format!("{{\"identifiers\":[{ids}],\"replaces\":{}}}", quote(id)),
                )?;
                if r.status >= 400 {
                    // RFC 9773 §5: a CA may refuse `replaces` (already replaced, unknown):
                    // the certificate is still wanted, so order it plainly.
                    log(format_args!(
                        "the CA refused the order as a replacement of {id} ({}); ordering anew",
                        problem(&r)
                    ));
                    self.post(&url, &format!("{{\"identifiers\":[{ids}]}}"))?
                } else {
                    r
                }
            }
            None => self.post(&url, &format!("{{\"identifiers\":[{ids}]}}"))?,
        };
        let order = ok_json(&r, "creating the order")?;
        let order_url = r
            .header("location")
            .ok_or("the new order answer has no Location".to_string())?
            .to_string();
        for authz in order
            .get("authorizations")
            .map(Json::arr)
            .unwrap_or_default()
        {
            self.authorize(authz.str().unwrap_or_default(), challenges, prefer)?;
        }

        let order = self.poll(&order_url, "the order", &["ready", "valid"], &["pending"])?;
        let key = der::new_key().ok_or("generating a certificate key failed".to_string())?;
        let mut order = order;
        if order.text("status") == "ready" {
            let csr = der::csr(domains, &key).ok_or("signing the CSR failed".to_string())?;
            let finalize = order.text("finalize").to_string();
            r = self.post(&finalize, &format!("{{\"csr\":\"{}\"}}", b64url(&csr)))?;
            ok_json(&r, "finalizing the order")?;
            order = self.poll(
                &order_url,
                "the order",
                &["valid"],
                &["ready", "processing"],
            )?;
        }
        let cert_url = order.text("certificate");
        if cert_url.is_empty() {
            return Err(Failure::new(
                "the valid order has no certificate URL".into(),
            ));
        }
        let r = self.post(cert_url, "")?;
        if r.status != 200 {
            return Err(fail_from(&r, "downloading the certificate"));
        }
        Ok(Issued {
            chain_pem: r.body,
            key_pem: pem("PRIVATE KEY", &key).into_bytes(),
        })
    }

    /// One authorization: nothing if already valid; else publish both answers, respond to
    /// one challenge and wait for the verdict.
    ///
    /// Both answers (the HTTP-01 token and the TLS-ALPN-01 certificate) are published, but
    /// only one challenge is responded to: RFC 8555 §7.5.1 has the client pick one, and
    /// Let's Encrypt counts each failed validation against a rate limit. HTTP-01 is tried
    /// first (the most widely reachable: any plain listener on port 80, also behind a TLS
    /// terminator); after it fails, the next order tries TLS-ALPN-01 (`prefer`), so a server
    /// with only one kind of listener still gets its certificate on the second attempt.
    fn authorize(
        &mut self,
        url: &str,
        challenges: &Challenges,
        prefer: Kind,
    ) -> Result<(), Failure> {
        let r = self.post(url, "")?;
        let authz = ok_json(&r, "reading an authorization")?;
        let domain = authz
            .get("identifier")
            .map(|i| i.text("value"))
            .unwrap_or_default()
            .to_string();
        match authz.text("status") {
            "valid" => {
                log(format_args!("authorization for {domain} valid (already)"));
                return Ok(());
            }
            "pending" => {}
            other => {
                return Err(Failure::new(format!(
                    "authorization for {domain} is {other}"
                )));
            }
        }
        let offered = authz.get("challenges").map(Json::arr).unwrap_or_default();
        let find = |kind: Kind| offered.iter().find(|c| c.text("type") == kind.name());
        let (kind, chosen) = match (find(prefer), find(prefer.other())) {
            (Some(c), _) => (prefer, c),
            (None, Some(c)) => (prefer.other(), c),
            (None, None) => {
                let names: Vec<&str> = offered.iter().map(|c| c.text("type")).collect();
                return Err(Failure::new(format!(
                    "the CA offers no http-01 or tls-alpn-01 challenge for {domain} (only {})",
                    names.join(", ")
                )));
            }
        };
        let _published = Published::new(challenges, &domain, offered, self.account)?;
        let challenge_url = chosen.text("url").to_string();
        log(format_args!("answering {} for {domain}", kind.name()));
        let r = self.post(&challenge_url, "{}")?;
        ok_json(&r, "responding to the challenge")?;
        match self.poll(
            url,
            &format!("the authorization for {domain}"),
            &["valid"],
            &["pending", "processing"],
        ) {
            Ok(_) => {
                log(format_args!(
                    "authorization for {domain} valid ({})",
                    kind.name()
                ));
                Ok(())
            }
            Err(mut f) => {
                f.validation_failed = true;
                Err(f)
            }
        }
    }

    /// POST-as-GET `url` until its status is one of `done` (returned) and while it is one
    /// of `wait` (anything else fails, with the object's error), waiting as the CA asks.
    fn poll(
        &mut self,
        url: &str,
        what: &str,
        done: &[&str],
        wait: &[&str],
    ) -> Result<Json, Failure> {
        let start = std::time::Instant::now();
        let mut pause = POLL_FIRST;
        loop {
            let r = self.post(url, "")?;
            let json = ok_json(&r, what)?;
            let status = json.text("status");
            if done.contains(&status) {
                return Ok(json);
            }
            if !wait.contains(&status) {
                return Err(Failure::new(format!(
                    "{what} is {status}: {}",
                    object_error(&json)
                )));
            }
            if start.elapsed() > POLL_LIMIT {
                return Err(Failure::new(format!(
                    "{what} still {status} after {}s",
                    POLL_LIMIT.as_secs()
                )));
            }
            let asked = retry_after(&r).map(Duration::from_secs);
            std::thread::sleep(asked.unwrap_or(pause).clamp(POLL_FIRST, POLL_MAX));
            pause = (pause * 2).min(POLL_MAX);
        }
    }
}

/// The answers to one authorization's challenges, published to the serving threads for as
/// long as it lives.
struct Published<'a> {
    challenges: &'a Challenges,
    domain: String,
    token: Option<String>,
}

impl<'a> Published<'a> {
    fn new(
        challenges: &'a Challenges,
        domain: &str,
        offered: &[Json],
        account: &Account,
    ) -> Result<Published<'a>, Failure> {
        let mut p = Published {
            challenges,
            domain: domain.to_string(),
            token: None,
        };
        for c in offered {
            let token = c.text("token");
            // RFC 8555 §8.1: the token is base64url, so it is safe in a path and a file name.
            if token.is_empty()
                || !token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                continue;
            }
            let key_authz = account.key_authorization(token);
            if c.text("type") == Kind::Http01.name() {
                challenges.set_http01(token, &key_authz);
                p.token = Some(token.to_string());
            } else if c.text("type") == Kind::TlsAlpn01.name() {
                let key = der::new_key().ok_or("generating a challenge key failed".to_string())?;
                let now = crate::sys::time::unix_secs();
                let cert = der::alpn_cert(domain, &key_authz, &key, now)
                    .ok_or("signing the TLS-ALPN-01 certificate failed".to_string())?;
                challenges.set_alpn(domain, cert, key)?;
            }
        }
        Ok(p)
    }
}

impl Drop for Published<'_> {
    fn drop(&mut self) {
        if let Some(t) = &self.token {
            self.challenges.remove_http01(t);
        }
        self.challenges.remove_alpn(&self.domain);
    }
}

fn log(line: std::fmt::Arguments<'_>) {
    crate::sys::log_error(format_args!("barehttpd: acme: {line}"));
}

/// The body of a 2xx answer as JSON; anything else as a failure carrying the CA's problem.
fn ok_json(r: &Response, what: &str) -> Result<Json, Failure> {
    if !(200..300).contains(&r.status) {
        return Err(fail_from(r, what));
    }
    r.json()
        .ok_or_else(|| Failure::new(format!("{what}: the CA's answer is not JSON")))
}

fn fail_from(r: &Response, what: &str) -> Failure {
    Failure {
        msg: format!("{what}: {}", problem(r)),
        retry_after: retry_after(r),
        validation_failed: false,
    }
}

/// The short type of a problem document ("badNonce" for urn:ietf:params:acme:error:badNonce).
fn problem_type(r: &Response) -> String {
    let t = r
        .json()
        .map(|j| j.text("type").to_string())
        .unwrap_or_default();
    t.strip_prefix(ERROR_NS).map(str::to_string).unwrap_or(t)
}

/// An error answer as one line: status, problem type, detail and subproblems (RFC 8555 §6.7).
fn problem(r: &Response) -> String {
    match r.json() {
        Some(j) if !j.text("type").is_empty() => format!("HTTP {}, {}", r.status, problem_text(&j)),
        _ => format!("HTTP {}", r.status),
    }
}

fn problem_text(j: &Json) -> String {
    let t = j.text("type");
    let mut s = format!(
        "{}: {}",
        t.strip_prefix(ERROR_NS).unwrap_or(t),
        j.text("detail")
    );
    for sub in j.get("subproblems").map(Json::arr).unwrap_or_default() {
        let id = sub
            .get("identifier")
            .map(|i| i.text("value"))
            .unwrap_or_default();
        s.push_str(&format!("; {id}: {}", problem_text(sub)));
    }
    s
}

/// The error of an order or authorization that went wrong: the object's own, or that of
/// one of its challenges.
fn object_error(j: &Json) -> String {
    let from_challenge = || {
        j.get("challenges")
            .map(Json::arr)
            .unwrap_or_default()
            .iter()
            .find_map(|c| c.get("error"))
    };
    match j.get("error").or_else(from_challenge) {
        Some(e) => problem_text(e),
        None => "the CA gave no reason".into(),
    }
}

/// Retry-After in seconds, as a delay or an HTTP date (RFC 9110 §10.2.3).
fn retry_after(r: &Response) -> Option<u64> {
    let v = r.header("retry-after")?.trim();
    v.parse().ok().or_else(|| {
        let at = crate::http::date::parse_http_date(v.as_bytes())?;
        Some(at.saturating_sub(crate::sys::time::unix_secs()))
    })
}

/// An RFC 3339 date-time ("2025-01-02T04:00:00Z", "...:00.5+01:00") as Unix seconds.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset: i64 = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let local = crate::tls::x509::days_from_civil(y, mo, d)? * 86_400 + h * 3600 + mi * 60 + sec;
    u64::try_from(local as i64 - offset).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9773 §4.1's example: AKI 69:88:5B:...:C8:D4 and serial 00:87:65:43:21.
    #[test]
    fn rfc9773_4_1_the_cert_id_is_aki_dot_serial() {
        let aki = [
            0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0,
            0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4,
        ];
        let serial = [0x00, 0x87, 0x65, 0x43, 0x21];
        assert_eq!(
            format!("{}.{}", b64url(&aki), b64url(&serial)),
            "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
        );
        // The same from a certificate's DER (the x509 test certificate: serial 0x1234).
        let leaf = crate::tls::tests::pem_to_der(include_str!("../testdata/x509.pem"));
        let id = ari_cert_id(&leaf).unwrap();
        assert!(id.ends_with(".EjQ"), "{id}");
        assert_eq!(id.split('.').next().map(str::len), Some(27)); // 20 bytes
    }

    /// RFC 7638 §3: the thumbprint hashes the required members, sorted, no whitespace; and
    /// RFC 7515 §A.3's ES256 JWS verifies with the JWK's key.
    #[test]
    fn rfc7638_thumbprint_and_rfc7515_es256_signature() {
        let account = Account::from_pkcs8(&Account::generate().unwrap()).unwrap();
        assert!(
            account
                .jwk
                .starts_with("{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"")
        );
        assert_eq!(account.thumbprint.len(), 43);
        assert_eq!(
            account.key_authorization("tok"),
            format!("tok.{}", account.thumbprint)
        );

        let jws = account
            .jws(
                "https://ca/new-order",
                "n0nce",
                Some("https://ca/acct/1"),
                "{}",
            )
            .unwrap();
        let j = Json::parse(jws.as_bytes()).unwrap();
        let protected = b64url_decode(j.text("protected"));
        assert_eq!(
            String::from_utf8(protected).unwrap(),
            r#"{"alg":"ES256","kid":"https://ca/acct/1","nonce":"n0nce","url":"https://ca/new-order"}"#
        );
        assert_eq!(j.text("payload"), "e30");
        let sig = b64url_decode(j.text("signature"));
        assert_eq!(
            sig.len(),
            64,
            "ES256 is r||s, 32 bytes each (RFC 7518 §3.4)"
        );
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, account.key.public_key().as_ref())
            .verify(
                format!("{}.{}", j.text("protected"), j.text("payload")).as_bytes(),
                &sig,
            )
            .expect("the JWS verifies");

        // Before the account exists the key goes in as a JWK; POST-as-GET has an empty payload.
        let jws = account.jws("u", "n", None, "").unwrap();
        let j = Json::parse(jws.as_bytes()).unwrap();
        let protected = String::from_utf8(b64url_decode(j.text("protected"))).unwrap();
        assert!(protected.contains(&format!("\"jwk\":{}", account.jwk)));
        assert_eq!(j.text("payload"), "");
    }

    fn b64url_decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            _ => 63,
        };
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u32, 0);
        for c in s.bytes() {
            acc = (acc << 6) | u32::from(val(c));
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }

    #[test]
    fn rfc8555_6_7_problems_read_as_one_line() {
        let r = Response {
            status: 400,
            headers: vec![("Retry-After".into(), "120".into())],
            body: br#"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no","subproblems":[{"type":"urn:ietf:params:acme:error:malformed","detail":"bad name","identifier":{"type":"dns","value":"x..test"}}]}"#.to_vec(),
        };
        assert_eq!(
            problem(&r),
            "HTTP 400, rejectedIdentifier: no; x..test: malformed: bad name"
        );
        assert_eq!(retry_after(&r), Some(120));
        let f = fail_from(&r, "ordering");
        assert_eq!(f.retry_after, Some(120));
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2025-01-02T04:00:00Z"), Some(1_735_790_400));
        assert_eq!(
            parse_rfc3339("2025-01-02T04:00:00.123456Z"),
            Some(1_735_790_400)
        );
        assert_eq!(
            parse_rfc3339("2025-01-02T05:30:00+01:30"),
            Some(1_735_790_400)
        );
        assert_eq!(
            parse_rfc3339("2025-01-02T02:00:00-02:00"),
            Some(1_735_790_400)
        );
        for bad in [
            "2025-01-02",
            "2025-13-02T04:00:00Z",
            "2025-01-02T04:00:00",
            "2025-01-02T04:00:00.Z",
            "2025-01-02T04:0x:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
