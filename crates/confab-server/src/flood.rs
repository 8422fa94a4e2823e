//! The flood limit as the doors apply it: the core's [`Flood`] table, one
//! per server, shared by every door, and the [`Pacer`] each connection
//! asks before it hands the hub a command.
//!
//! A connection is paced by its account's bucket once it is logged in to
//! one (the hub says so through [`ConnOutbox`](crate::hub_task::ConnOutbox)),
//! by its address's otherwise. REST calls, which cannot be paced, are
//! checked instead and answered 429 with the wait.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_core::rate::{Flood, FloodRule, Pace};
use confab_core::{NickKey, SessionId};

use crate::config::Config;
use crate::time::now;

/// Whose bucket a command is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Addr(IpAddr),
    /// An account, by name (REST knows the name from its token).
    Account(NickKey),
}

/// The server's flood table and who is exempt from it.
pub struct Gate {
    table: Mutex<Flood<Key>>,
    exempt: Box<dyn Fn(IpAddr) -> bool + Send + Sync>,
    /// The account each session logged in to one is, as the hub last said
    /// ([`Gate::set_account`]). Here, not in each connection: a guest's
    /// pacer then has nothing of its own to allocate.
    accounts: Mutex<HashMap<SessionId, NickKey>>,
}

impl Gate {
    pub fn new(config: &Arc<Config>) -> Arc<Gate> {
        let l = &config.limits;
        let rule = FloodRule {
            per_sec: l.rate_per_sec,
            burst: l.rate_burst,
            max_wait_ms: l.flood_max_wait_ms,
        };
        let exempt = config.clone();
        Arc::new(Gate {
            table: Mutex::new(Flood::new(rule)),
            exempt: Box::new(move |ip| exempt.flood_exempt(ip)),
            accounts: Mutex::new(HashMap::new()),
        })
    }

    /// The pacer of session `sid`'s connection from `ip`.
    pub fn pacer(self: &Arc<Gate>, ip: IpAddr, sid: SessionId) -> Pacer {
        Pacer {
            gate: self.clone(),
            ip,
            sid,
            exempt: (self.exempt)(ip),
        }
    }

    /// Session `sid` is now `account` (or a guest, or gone: `None`).
    pub(crate) fn set_account(&self, sid: SessionId, account: Option<&NickKey>) {
        let mut accounts = self.accounts.lock().expect("flood accounts");
        match account {
            Some(name) => {
                accounts.insert(sid, name.clone());
            }
            None => {
                accounts.remove(&sid);
            }
        }
    }

    fn account_of(&self, sid: SessionId) -> Option<NickKey> {
        let accounts = self.accounts.lock().expect("flood accounts");
        accounts.get(&sid).cloned()
    }

    /// For a caller that cannot be paced: `Err(wait)` when `key` is over
    /// the limit (nothing is charged then). Exempt addresses always pass.
    pub fn check(&self, key: &Key, ip: IpAddr) -> Result<(), Duration> {
        if (self.exempt)(ip) {
            return Ok(());
        }
        let verdict = self.table.lock().expect("flood table").check(key, now());
        verdict.map_err(|ms| {
            ::metrics::counter!(crate::metrics::FLOOD, "action" => "refused").increment(1);
            Duration::from_millis(ms)
        })
    }

    fn pace(&self, key: &Key) -> Pace {
        self.table.lock().expect("flood table").pace(key, now())
    }
}

/// One connection's way through the flood limit. Cheap to clone.
#[derive(Clone)]
pub struct Pacer {
    gate: Arc<Gate>,
    ip: IpAddr,
    /// Whose account, if any, the gate knows ([`Gate::set_account`]).
    sid: SessionId,
    exempt: bool,
}

/// The client's backlog passed the limit: it is disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Excess;

impl Excess {
    /// What the client and the log are told.
    pub const REASON: &'static str = "Excess flood";
}

impl Pacer {
    /// Waits until the client may send its next command (IRC's fake lag:
    /// the door reads nothing meanwhile, so nothing is dropped); `Err`
    /// when it would wait past the limit.
    pub async fn pace(&self) -> Result<(), Excess> {
        if self.exempt {
            return Ok(());
        }
        match self.gate.pace(&self.key()) {
            Pace::Go => Ok(()),
            Pace::Wait(ms) => {
                ::metrics::counter!(crate::metrics::FLOOD, "action" => "paced").increment(1);
                // (Boxed: a `Sleep` is 112 bytes that every connection's
                // task would carry for a wait few of them make.)
                let waiting = Box::pin(tokio::time::sleep(Duration::from_millis(ms)));
                waiting.await;
                Ok(())
            }
            Pace::Excess => {
                ::metrics::counter!(crate::metrics::FLOOD, "action" => "disconnected").increment(1);
                Err(Excess)
            }
        }
    }

    /// The bucket this connection draws on now.
    pub fn key(&self) -> Key {
        match self.account() {
            None => Key::Addr(self.ip),
            Some(name) => Key::Account(name),
        }
    }

    /// The account this connection is logged in to, as the hub last said.
    pub fn account(&self) -> Option<NickKey> {
        self.gate.account_of(self.sid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(exempt: &str) -> Arc<Gate> {
        let mut config = Config::default();
        config.limits.rate_per_sec = 1.0;
        config.limits.rate_burst = 2;
        if !exempt.is_empty() {
            config.limits.flood_exempt = vec![exempt.to_owned()];
        }
        Gate::new(&Arc::new(config))
    }

    #[tokio::test]
    async fn a_connection_is_paced_by_its_account_once_logged_in() {
        let g = gate("");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = g.pacer(ip, SessionId(1));
        let b = g.pacer(ip, SessionId(2));
        assert_eq!(a.key(), Key::Addr(ip));
        a.pace().await.unwrap();
        a.pace().await.unwrap();
        // The address's burst is spent: another guest there must wait…
        assert_eq!(g.pace(&b.key()), Pace::Wait(1_000));
        // …but a logged-in user there has the account's own bucket.
        let alice = confab_core::Nick::parse("Alice", 30).unwrap().key();
        g.set_account(SessionId(2), Some(&alice));
        assert_eq!(b.key(), Key::Account(alice.clone()));
        assert_eq!(a.key(), Key::Addr(ip));
        assert_eq!(g.pace(&b.key()), Pace::Go);
        // The session gone, the gate forgets it.
        g.set_account(SessionId(2), None);
        assert_eq!(b.key(), Key::Addr(ip));
    }

    #[test]
    fn exempt_addresses_pass_every_check() {
        let g = gate("127.0.0.0/8");
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let key = Key::Addr(ip);
        for _ in 0..100 {
            assert_eq!(g.check(&key, ip), Ok(()));
        }
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let key = Key::Addr(other);
        assert!(g.check(&key, other).is_ok());
        assert!(g.check(&key, other).is_ok());
        assert_eq!(g.check(&key, other), Err(Duration::from_millis(1_000)));
    }
}
