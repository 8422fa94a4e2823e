//! Passwords: argon2id hashes in PHC string format, and the rules a new
//! password must meet. Hashing is slow on purpose (tens of milliseconds):
//! callers run it off the async runtime (`spawn_blocking`).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use confab_core::NickKey;
use tokio::sync::Semaphore;

/// Longest password accepted, in bytes (argon2 takes any length; this
/// bounds the work an attacker can ask for).
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {0} characters")]
    TooShort(usize),
    #[error("a password may be at most {MAX_PASSWORD_BYTES} bytes long")]
    TooLong,
    #[error("a password may not contain spaces or control characters")]
    BadChar,
}

/// Checks a new password against the rules.
pub fn check_new(password: &str, min_len: usize) -> Result<(), PasswordError> {
    if password.chars().count() < min_len {
        return Err(PasswordError::TooShort(min_len));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(PasswordError::BadChar);
    }
    Ok(())
}

/// The argon2id hash of `password`, with a fresh random salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

/// Whether `password` matches `hash`. A malformed hash matches nothing.
pub fn verify(password: &str, hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash("correct horse");
        let b = hash("correct horse");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse", &a));
        assert!(!verify("wrong horse", &a));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn new_password_rules() {
        assert_eq!(check_new("short", 8), Err(PasswordError::TooShort(8)));
        assert_eq!(check_new("has space", 4), Err(PasswordError::BadChar));
        assert_eq!(check_new(&"x".repeat(300), 8), Err(PasswordError::TooLong));
        assert_eq!(check_new("fine-password", 8), Ok(()));
    }
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("wrong name or password")]
    Wrong,
    #[error(
        "too many failed logins from your address; try again in {} minutes",
        .0.div_ceil(60).max(1)
    )]
    Limited(u64),
    #[error("cannot log in now: {0}")]
    Store(String),
}

/// The limits on logging in and registering, the same on every door
/// (`[accounts]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct GuardRule {
    /// Failed logins from one address, in `window`, before its logins are
    /// refused until the window passes.
    pub failures_per_address: u32,
    /// How long failures (and registrations) are remembered.
    pub window: Duration,
    /// Accounts one address may register per hour.
    pub registrations_per_hour: u32,
    /// Password hashes computed at once (each takes a core for tens of
    /// milliseconds); more wait their turn.
    pub concurrent_hashes: usize,
}

impl GuardRule {
    pub fn from_config(a: &crate::config::AccountsConfig) -> GuardRule {
        GuardRule {
            failures_per_address: a.max_failed_logins_per_address,
            window: Duration::from_secs(a.failed_login_window_secs),
            registrations_per_hour: a.registrations_per_address_per_hour,
            concurrent_hashes: a.max_concurrent_hashes,
        }
    }
}

/// Counts per key over a window, in a table of bounded size that forgets
/// the least recently seen key when full (so a flood of new keys cannot
/// stop it from counting, nor grow it).
struct Recent<K> {
    map: HashMap<K, (u32, Instant)>,
    window: Duration,
}

/// Keys each table remembers at once.
const MAX_KEYS: usize = 10_000;

impl<K: Hash + Eq + Clone> Recent<K> {
    fn new(window: Duration) -> Recent<K> {
        Recent {
            map: HashMap::new(),
            window,
        }
    }

    /// How many times `key` was noted in the window, and how long until
    /// the window that counts them ends.
    fn count(&self, key: &K, now: Instant) -> (u32, Duration) {
        match self.map.get(key) {
            Some(&(n, first)) if now < first + self.window => (n, first + self.window - now),
            _ => (0, Duration::ZERO),
        }
    }

    fn note(&mut self, key: K, now: Instant) {
        if !self.map.contains_key(&key) && self.map.len() >= MAX_KEYS {
            let window = self.window;
            self.map.retain(|_, (_, first)| now < *first + window);
            if self.map.len() >= MAX_KEYS
                && let Some(oldest) = self
                    .map
                    .iter()
                    .min_by_key(|(_, (_, first))| *first)
                    .map(|(k, _)| k.clone())
            {
                self.map.remove(&oldest);
            }
        }
        let entry = self.map.entry(key).or_insert((0, now));
        if now >= entry.1 + self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    fn forget(&mut self, key: &K) {
        self.map.remove(key);
    }
}

/// Failed logins by address and by account, registrations by address,
/// and the hashing pool's turnstile: one per server, shared by every door.
pub struct Guard {
    rule: GuardRule,
    by_address: Mutex<Recent<IpAddr>>,
    by_account: Mutex<Recent<NickKey>>,
    registrations: Mutex<Recent<IpAddr>>,
    hashing: Semaphore,
    /// The hub's lockdown switch, mirrored after every batch so that a
    /// registration is refused before its password is hashed.
    lockdown: AtomicBool,
    /// What an unknown name's password is checked against, so that a
    /// login takes as long whether or not the account exists.
    decoy: OnceLock<String>,
}

/// The longest a login waits because of earlier failures for its account.
const MAX_ACCOUNT_DELAY: Duration = Duration::from_secs(8);

impl Guard {
    /// Mirrors the hub's lockdown switch (the hub thread, after a batch).
    pub fn set_lockdown(&self, on: bool) {
        self.lockdown.store(on, Ordering::Relaxed);
    }

    pub fn new(rule: GuardRule) -> Arc<Guard> {
        Arc::new(Guard {
            rule,
            by_address: Mutex::new(Recent::new(rule.window)),
            by_account: Mutex::new(Recent::new(rule.window)),
            registrations: Mutex::new(Recent::new(Duration::from_secs(3600))),
            hashing: Semaphore::new(rule.concurrent_hashes.max(1)),
            lockdown: AtomicBool::new(false),
            decoy: OnceLock::new(),
        })
    }

    /// `Err(seconds)` while `ip` has used up its failed logins.
    fn address_allows(&self, ip: IpAddr) -> Result<(), u64> {
        let (n, left) = self
            .by_address
            .lock()
            .expect("guard")
            .count(&ip, Instant::now());
        if n >= self.rule.failures_per_address {
            Err(left.as_secs().max(1))
        } else {
            Ok(())
        }
    }

    /// The wait earned by recent failures for `name`: doubling from a
    /// quarter second after the second failure, up to 8 s.
    fn account_delay(&self, name: &NickKey) -> Duration {
        let (n, _) = self
            .by_account
            .lock()
            .expect("guard")
            .count(name, Instant::now());
        if n < 2 {
            return Duration::ZERO;
        }
        let exp = (n - 2).min(6);
        (Duration::from_millis(250) * 2u32.pow(exp)).min(MAX_ACCOUNT_DELAY)
    }

    fn failed(&self, ip: IpAddr, account: Option<&NickKey>) {
        let now = Instant::now();
        self.by_address.lock().expect("guard").note(ip, now);
        // Only names that are accounts take a place in this table, so
        // made-up names cannot push real ones out.
        if let Some(name) = account {
            self.by_account
                .lock()
                .expect("guard")
                .note(name.clone(), now);
        }
    }

    fn succeeded(&self, account: &NickKey) {
        self.by_account.lock().expect("guard").forget(account);
    }

    /// Runs `work` (a hash or a verification) on the blocking pool when
    /// the hashing turnstile lets it.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let _turn = self.hashing.acquire().await.ok()?;
        tokio::task::spawn_blocking(work).await.ok()
    }

    /// The hash of a new password, on the bounded pool; the error is for
    /// the user.
    async fn new_hash(&self, password: String) -> Result<String, String> {
        self.hashing(move || hash(&password))
            .await
            .ok_or_else(|| "could not hash the password; try again".to_owned())
    }

    fn decoy(&self) -> String {
        self.decoy
            .get_or_init(|| hash(SaltString::generate(&mut OsRng).as_ref()))
            .clone()
    }
}

/// The one log line of a login on any door, and the failures' count:
/// `door`, the `name` asked for (none when a token did not say), the
/// client's address, whether it is an account (or a guest name), and
/// `Ok` or why it was refused. A password or token refused by the door
/// is logged where it is checked ([`log_in`], the token check); a login
/// the hub accepts or refuses by the hub thread, after the command.
pub fn log_login(
    door: &crate::metrics::Door,
    name: Option<&str>,
    ip: IpAddr,
    account: bool,
    outcome: Result<(), &str>,
) {
    let name = name.unwrap_or("-");
    match outcome {
        Ok(()) => tracing::info!(door = door.name, name, %ip, account, ok = true, "login"),
        Err(why) => {
            door.login_failures.increment(1);
            tracing::info!(door = door.name, name, %ip, account, ok = false, why, "login failed");
        }
    }
}

/// Checks `password` for the account `name` from `ip`, arriving by
/// `door`, as every door must:
/// cheap refusals first (an address over its failures, an overlong
/// password), then the account's slowdown for recent failures, then the
/// verification on the bounded hashing pool (against a decoy hash when
/// there is no such account, so both take as long). The hub is told the
/// outcome for the audit log; a refusal is logged ([`log_login`]).
/// `Err(HubGone)` when the server is stopping.
pub async fn log_in(
    hub: &crate::hub_task::HubHandle,
    door: &'static str,
    name: &confab_core::Nick,
    password: String,
    ip: IpAddr,
) -> Result<Result<confab_core::store::Account, LoginError>, crate::hub_task::HubGone> {
    let door = crate::metrics::door(door);
    let failed = |why: &str| log_login(door, Some(name.as_str()), ip, true, Err(why));
    let guard = hub.guard();
    if let Err(secs) = guard.address_allows(ip) {
        failed("too many failures from the address");
        return Ok(Err(LoginError::Limited(secs)));
    }
    let key = name.key();
    let account = match hub.account(key.clone()).await? {
        Ok(lookup) => lookup.account,
        Err(e) => {
            failed(&format!("store: {e}"));
            return Ok(Err(LoginError::Store(e.to_string())));
        }
    };
    let verified = if password.len() > MAX_PASSWORD_BYTES {
        false
    } else {
        tokio::time::sleep(guard.account_delay(&key)).await;
        let hash = match &account {
            Some(a) => a.password_hash.clone(),
            None => guard.decoy(),
        };
        let known = account.is_some();
        let ok = guard
            .hashing(move || verify(&password, &hash))
            .await
            .unwrap_or(false);
        ok && known
    };
    hub.auth_result(key.clone(), verified).await?;
    match account {
        Some(account) if verified => {
            guard.succeeded(&key);
            Ok(Ok(account))
        }
        account => {
            guard.failed(ip, account.as_ref().map(|_| &key));
            failed(match account {
                Some(_) => "wrong password",
                None => "no such account",
            });
            Ok(Err(LoginError::Wrong))
        }
    }
}

/// Why a password change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The old password did not log in (or could not be checked).
    #[error("{0}")]
    Login(LoginError),
    /// The new password breaks the rules.
    #[error("{0}")]
    New(String),
}

/// Checks a password change for account `name` from `ip` as every door
/// must: the new password's rules first (cheap), then the old password
/// as a login (so guesses count against the address and the account),
/// then the new hash on the bounded pool. The account and the new hash,
/// for the hub to store.
pub async fn change_password(
    hub: &crate::hub_task::HubHandle,
    door: &'static str,
    name: &confab_core::Nick,
    old: String,
    new: String,
    min_len: usize,
    ip: IpAddr,
) -> Result<Result<(confab_core::store::Account, String), ChangeError>, crate::hub_task::HubGone> {
    if let Err(e) = check_new(&new, min_len) {
        return Ok(Err(ChangeError::New(e.to_string())));
    }
    let account = match log_in(hub, door, name, old, ip).await? {
        Ok(account) => account,
        Err(e) => return Ok(Err(ChangeError::Login(e))),
    };
    Ok(hub
        .guard()
        .new_hash(new)
        .await
        .map(|hash| (account, hash))
        .map_err(ChangeError::New))
}

/// Why a connection's own password change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnPasswordError {
    /// The connection is a guest: the core's refusal, which each door
    /// words its own way.
    #[error("{}", confab_core::ChatError::NotAnAccount)]
    NotAnAccount(confab_core::ChatError),
    /// The old password or the new one (said to the user as it is).
    #[error("{0}")]
    Refused(String),
}

/// A chat connection's own password change (line `/passwd`, NickServ
/// `PASSWD`, WebSocket `passwd`): for the account the hub last said the
/// connection is, checked as [`change_password`]. The command for the hub
/// (which checks once more that the session is that account), or what
/// to tell the user.
pub async fn change_own_password(
    hub: &crate::hub_task::HubHandle,
    door: &'static str,
    pacer: &crate::flood::Pacer,
    old: String,
    new: String,
    min_len: usize,
    ip: IpAddr,
) -> Result<Result<confab_core::Command, OwnPasswordError>, crate::hub_task::HubGone> {
    let not_an_account = || OwnPasswordError::NotAnAccount(confab_core::ChatError::NotAnAccount);
    let Some(name) = pacer.account() else {
        return Ok(Err(not_an_account()));
    };
    let Ok(nick) = confab_core::Nick::parse(name.as_str(), usize::MAX) else {
        return Ok(Err(not_an_account()));
    };
    Ok(
        match change_password(hub, door, &nick, old, new, min_len, ip).await? {
            Ok((account, password_hash)) => Ok(confab_core::Command::SetPassword {
                name: account.name.key(),
                password_hash,
            }),
            Err(ChangeError::Login(LoginError::Wrong)) => Err(OwnPasswordError::Refused(
                "the old password is wrong".into(),
            )),
            Err(e) => Err(OwnPasswordError::Refused(e.to_string())),
        },
    )
}

/// Checks a new account's password against the rules and hashes it on
/// the bounded pool, once `ip` is within its registrations for the hour.
/// The error is for the user.
pub async fn register_hash(
    hub: &crate::hub_task::HubHandle,
    password: String,
    min_len: usize,
    ip: IpAddr,
) -> Result<String, String> {
    check_new(&password, min_len).map_err(|e| e.to_string())?;
    let guard = hub.guard();
    // The hub refuses it too (the switch may have just flipped), but
    // without spending a hash.
    if guard.lockdown.load(Ordering::Relaxed) {
        return Err(confab_core::ChatError::Lockdown.to_string());
    }
    {
        let mut regs = guard.registrations.lock().expect("guard");
        let (n, left) = regs.count(&ip, Instant::now());
        if n >= guard.rule.registrations_per_hour {
            let mins = left.as_secs().div_ceil(60).max(1);
            return Err(format!(
                "too many accounts registered from your address; try again in {mins} minutes"
            ));
        }
        regs.note(ip, Instant::now());
    }
    guard.new_hash(password).await
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn counts_expire_with_the_window() {
        let mut r = Recent::new(Duration::from_secs(10));
        let t = Instant::now();
        r.note(ip(1), t);
        r.note(ip(1), t + Duration::from_secs(2));
        assert_eq!(r.count(&ip(1), t + Duration::from_secs(3)).0, 2);
        assert_eq!(r.count(&ip(1), t + Duration::from_secs(11)).0, 0);
        // A note after the window starts a new count.
        r.note(ip(1), t + Duration::from_secs(11));
        assert_eq!(r.count(&ip(1), t + Duration::from_secs(12)).0, 1);
    }

    #[test]
    fn a_full_table_forgets_its_oldest_key_and_keeps_counting() {
        let mut r = Recent::new(Duration::from_secs(600));
        let t = Instant::now();
        for i in 0..MAX_KEYS {
            r.note(i, t + Duration::from_millis(i as u64));
        }
        r.note(usize::MAX, t + Duration::from_secs(20));
        assert_eq!(r.map.len(), MAX_KEYS);
        assert_eq!(
            r.count(&0, t + Duration::from_secs(21)).0,
            0,
            "the oldest went"
        );
        assert_eq!(r.count(&1, t + Duration::from_secs(21)).0, 1);
        assert_eq!(r.count(&usize::MAX, t + Duration::from_secs(21)).0, 1);
    }

    #[test]
    fn an_address_is_refused_after_its_failures_and_accounts_slow_down() {
        let g = Guard::new(GuardRule {
            failures_per_address: 3,
            window: Duration::from_secs(600),
            registrations_per_hour: 1,
            concurrent_hashes: 1,
        });
        let alice = confab_core::Nick::parse("alice", 30).unwrap().key();
        assert_eq!(g.address_allows(ip(1)), Ok(()));
        g.failed(ip(1), Some(&alice));
        assert_eq!(g.account_delay(&alice), Duration::ZERO);
        g.failed(ip(1), None);
        assert_eq!(
            g.account_delay(&alice),
            Duration::ZERO,
            "unknown names are not counted"
        );
        g.failed(ip(2), Some(&alice));
        assert_eq!(g.account_delay(&alice), Duration::from_millis(250));
        g.failed(ip(1), Some(&alice));
        assert_eq!(g.account_delay(&alice), Duration::from_millis(500));
        assert!(
            g.address_allows(ip(1)).is_err(),
            "three failures from 10.0.0.1"
        );
        assert_eq!(g.address_allows(ip(2)), Ok(()));
        g.succeeded(&alice);
        assert_eq!(g.account_delay(&alice), Duration::ZERO);
    }
}

/// Why `OPER` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OperError {
    /// No `[[opers]]` block has that name (IRC's 491).
    #[error("no operator block matches that name")]
    NoSuchOper,
    /// The password is wrong (IRC's 464).
    #[error("wrong operator password")]
    Wrong,
    #[error(
        "too many failed logins from your address; try again in {} minutes",
        .0.div_ceil(60).max(1)
    )]
    Limited(u64),
}

/// Checks an `OPER name password` from `ip` against the config's
/// `[[opers]]` blocks as every door must: an address over its failed
/// logins is refused first; the password is verified on the bounded
/// hashing pool (against a decoy hash for an unknown name, so both take
/// as long); a failure counts against the address like a failed login.
/// Failures are audited here, successes by the hub (`Command::Oper`).
/// `Ok(name)`: the oper name to hand the hub.
pub async fn oper(
    hub: &crate::hub_task::HubHandle,
    opers: &[crate::config::OperConfig],
    name: &str,
    password: String,
    ip: IpAddr,
) -> Result<Result<String, OperError>, crate::hub_task::HubGone> {
    let guard = hub.guard();
    if let Err(secs) = guard.address_allows(ip) {
        return Ok(Err(OperError::Limited(secs)));
    }
    let block = opers.iter().find(|o| o.name == name);
    let hash = match block {
        Some(o) => o.password_hash.clone(),
        None => guard.decoy(),
    };
    let ok = password.len() <= MAX_PASSWORD_BYTES
        && guard
            .hashing(move || verify(&password, &hash))
            .await
            .unwrap_or(false);
    match block {
        Some(o) if ok => Ok(Ok(o.name.clone())),
        block => {
            guard.failed(ip, None);
            let why = if block.is_some() {
                "wrong password"
            } else {
                "no such oper"
            };
            tracing::info!(name, %ip, why, "OPER failed");
            hub.audit(
                "oper",
                serde_json::json!({"name": name, "ok": false, "why": why, "peer": ip.to_string()}),
            )
            .await?;
            Ok(Err(if block.is_some() {
                OperError::Wrong
            } else {
                OperError::NoSuchOper
            }))
        }
    }
}
