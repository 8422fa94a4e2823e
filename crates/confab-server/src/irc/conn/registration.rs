//! Registration: CAP negotiation, NICK/USER/PASS until the client is
//! registered, SASL (PLAIN) and the NickServ service.

use super::*;

impl Conn {
    /// Registration completes once there is a nick, a user and no CAP
    /// negotiation in progress.
    pub(super) async fn try_register(&mut self) {
        if self.cap_hold || self.login_sent || self.logged_in {
            return;
        }
        let Some(reg) = self.reg.as_deref() else {
            return;
        };
        let (Some(wanted), Some(ident), Some(realname)) =
            (reg.wanted.clone(), self.ident.clone(), reg.realname.clone())
        else {
            return;
        };
        let Ok(nick) = Nick::parse(&wanted, usize::MAX) else {
            return;
        };
        // A server password (PASS) logs in to the account of the nick.
        if self.account.is_none()
            && let Some(pass) = self.reg().pass.take()
        {
            match auth::log_in(&self.hub, "irc", &nick, pass, self.peer.ip()).await {
                Ok(Ok(account)) => self.account = Some(Box::new(account)),
                Ok(Err(e)) => {
                    let view = self.view();
                    let m = view.num("464", &[&format!("Password incorrect: {e}")]);
                    self.reply(vec![m]).await;
                }
                Err(_) => {
                    self.closing = Some("Server shutting down".into());
                    return;
                }
            }
        }
        if let Some(outbox) = self.outbox.take().map(|o| *o) {
            let info = ClientInfo {
                ident: Some(ident),
                // The same text as the connection's own mask.
                host: self.host.clone(),
                realname: Some(realname.into()).filter(|r: &Arc<str>| !r.is_empty()),
                auto_join: false,
                ..ClientInfo::default()
            };
            if self
                .hub
                .connect(self.sid, outbox, *self.peer, "irc", info)
                .await
                .is_err()
            {
                self.closing = Some("Server shutting down".into());
                return;
            }
            self.connected = true;
        }
        let cmd = match self.account.clone() {
            Some(account) => Command::LoginAccount(*account),
            None => Command::Login(nick),
        };
        let label = self.label.take();
        self.command(cmd, "NICK", Kind::Login).await;
        self.label = label;
        self.login_sent = true;
    }

    pub(super) async fn cap(&mut self, msg: &Irc) {
        let p = &msg.params;
        let Some(sub) = p.first() else {
            return self.num("461", &["CAP", "Not enough parameters"]).await;
        };
        let sub = sub.to_ascii_uppercase();
        let nick = self.nick.clone();
        let server = self.config.irc.server_name.clone();
        let cap = |params: &[&str]| {
            let mut m = Irc::new("CAP")
                .with_source(server.clone())
                .with_param(nick.clone());
            for x in params {
                m = m.with_param(*x);
            }
            m
        };
        match sub.as_str() {
            "LS" => {
                if !self.registered {
                    self.cap_hold = true;
                }
                let v302 = p
                    .get(1)
                    .and_then(|v| v.parse::<u32>().ok())
                    .is_some_and(|v| v >= 302);
                if v302 {
                    self.cap_302 = true;
                    self.caps.cap_notify = true;
                }
                let items: Vec<String> = CAPS
                    .iter()
                    .map(|(name, value)| {
                        if self.cap_302 && !value.is_empty() {
                            format!("{name}={value}")
                        } else {
                            (*name).to_owned()
                        }
                    })
                    .collect();
                self.reply(vec![cap(&["LS", &items.join(" ")])]).await;
            }
            "LIST" => {
                let enabled = self.caps.enabled().join(" ");
                self.reply(vec![cap(&["LIST", &enabled])]).await;
            }
            "REQ" => {
                if !self.registered {
                    self.cap_hold = true;
                }
                let asked = p.get(1).cloned().unwrap_or_default();
                let mut caps = self.caps;
                let mut ok = !asked.trim().is_empty();
                for item in asked.split_whitespace() {
                    let (off, name) = match item.strip_prefix('-') {
                        Some(n) => (true, n),
                        None => (false, item),
                    };
                    match caps.flag(name) {
                        Some(f) => *f = !off,
                        None => ok = false,
                    }
                }
                // cap-notify cannot be turned off once CAP LS 302 enabled it.
                if self.cap_302 {
                    caps.cap_notify = true;
                }
                if ok {
                    self.caps = caps;
                    self.reply(vec![cap(&["ACK", &asked])]).await;
                } else {
                    self.reply(vec![cap(&["NAK", &asked])]).await;
                }
            }
            "END" => {
                if !self.registered {
                    self.cap_hold = false;
                    self.try_register().await;
                }
            }
            _ => {
                self.num("410", &[&sub, "Invalid CAP command"]).await;
            }
        }
    }

    pub(super) async fn authenticate(&mut self, msg: &Irc) {
        let Some(arg) = msg.params.first() else {
            return self
                .num("461", &["AUTHENTICATE", "Not enough parameters"])
                .await;
        };
        if self.account.is_some() || self.is_account {
            return self
                .num("907", &["You have already authenticated using SASL"])
                .await;
        }
        if arg == "*" {
            self.reg().sasl = None;
            return self.num("906", &["SASL authentication aborted"]).await;
        }
        let Some(Sasl::Plain(buf)) = &mut self.reg().sasl else {
            if arg.eq_ignore_ascii_case("PLAIN") {
                self.reg().sasl = Some(Sasl::Plain(String::new()));
                let m = Irc::new("AUTHENTICATE").with_param("+");
                return self.reply(vec![m]).await;
            }
            self.num("908", &["PLAIN", "are available SASL mechanisms"])
                .await;
            return self.num("904", &["SASL authentication failed"]).await;
        };
        if arg != "+" {
            buf.push_str(arg);
        }
        if arg.len() > 400 || buf.len() > MAX_SASL {
            self.reg().sasl = None;
            return self.num("905", &["SASL message too long"]).await;
        }
        if arg.len() == 400 {
            return; // more to come
        }
        let payload = std::mem::take(buf);
        self.reg().sasl = None;
        let decoded = Base64::decode_vec(&payload)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some(decoded) = decoded else {
            return self.num("904", &["SASL authentication failed"]).await;
        };
        let mut parts = decoded.split('\0');
        let (Some(authz), Some(authc), Some(pass), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.num("904", &["SASL authentication failed"]).await;
        };
        let name = if authc.is_empty() { authz } else { authc };
        let Ok(nick) = Nick::parse(name, usize::MAX) else {
            return self.num("904", &["SASL authentication failed"]).await;
        };
        if !authz.is_empty() && !authz.eq_ignore_ascii_case(name) {
            return self.num("904", &["SASL authentication failed"]).await;
        }
        match auth::log_in(&self.hub, "irc", &nick, pass.to_owned(), self.peer.ip()).await {
            Ok(Ok(account)) => {
                let name = account.name.to_string();
                let mask = self.my_mask();
                if self.logged_in {
                    // After registration: the guest session becomes the
                    // account's; 900 and 903 come with the hub's welcome
                    // (none if it refuses: a suspended account).
                    self.command(Command::Identify(account), "AUTHENTICATE", Kind::Identify)
                        .await;
                    return;
                }
                self.account = Some(Box::new(account));
                let view = self.view();
                let msgs = vec![
                    view.num(
                        "900",
                        &[&mask, &name, &format!("You are now logged in as {name}")],
                    ),
                    view.num("903", &["SASL authentication successful"]),
                ];
                self.reply(msgs).await;
            }
            Ok(Err(e @ auth::LoginError::Limited(_))) => {
                self.num("904", &[&format!("SASL authentication failed: {e}")])
                    .await;
            }
            Ok(Err(_)) => self.num("904", &["SASL authentication failed"]).await,
            Err(_) => self.closing = Some("Server shutting down".into()),
        }
    }
    pub(super) async fn nickserv(&mut self, text: &str) {
        let mut words = text.split_whitespace();
        let sub = words.next().unwrap_or("HELP").to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        match sub.as_str() {
            "IDENTIFY" | "LOGIN" => {
                let (name, pass) = match args.as_slice() {
                    [pass] => (self.nick.clone(), *pass),
                    [name, pass, ..] => ((*name).to_owned(), *pass),
                    [] => {
                        let n = self.service_notice("Usage: IDENTIFY [account] password");
                        return self.reply(vec![n]).await;
                    }
                };
                let Ok(nick) = Nick::parse(&name, usize::MAX) else {
                    let n = self.service_notice("Wrong name or password");
                    return self.reply(vec![n]).await;
                };
                match auth::log_in(&self.hub, "irc", &nick, pass.to_owned(), self.peer.ip()).await {
                    // "You are now identified" once the hub agrees.
                    Ok(Ok(account)) => {
                        self.command(Command::Identify(account), "NICKSERV", Kind::Identify)
                            .await;
                    }
                    Ok(Err(e)) => {
                        let n = self.service_notice(&e.to_string());
                        self.reply(vec![n]).await;
                    }
                    Err(_) => self.closing = Some("Server shutting down".into()),
                }
            }
            "PASSWD" => {
                let [old, new] = args.as_slice() else {
                    let n = self.service_notice("Usage: PASSWD <current password> <new password>");
                    return self.reply(vec![n]).await;
                };
                let min = self.config.accounts.min_password_len;
                let (hub, ip) = (self.hub.clone(), self.peer.ip());
                let (old, new) = ((*old).to_owned(), (*new).to_owned());
                match auth::change_own_password(&hub, "irc", &self.pacer, old, new, min, ip).await {
                    Ok(Ok(cmd)) => self.command(cmd, "NICKSERV", Kind::NickServ).await,
                    Ok(Err(why)) => {
                        let n = self.service_notice(&why.to_string());
                        self.reply(vec![n]).await;
                    }
                    Err(_) => self.closing = Some("Server shutting down".into()),
                }
            }
            "REGISTER" => {
                let Some(pass) = args.first() else {
                    let n = self.service_notice("Usage: REGISTER password");
                    return self.reply(vec![n]).await;
                };
                let min = self.config.accounts.min_password_len;
                match auth::register_hash(&self.hub, (*pass).to_owned(), min, self.peer.ip()).await
                {
                    Ok(password_hash) => {
                        self.command(
                            Command::Register { password_hash },
                            "NICKSERV",
                            Kind::NickServ,
                        )
                        .await;
                    }
                    Err(e) => {
                        let n = self.service_notice(&e);
                        self.reply(vec![n]).await;
                    }
                }
            }
            _ => {
                let lines = [
                    "NickServ keeps accounts: the same ones SASL and the other doors use.",
                    "REGISTER password - register your current nick as an account",
                    "IDENTIFY [account] password - log in to an account",
                ];
                let msgs = lines.iter().map(|l| self.service_notice(l)).collect();
                self.reply(msgs).await;
            }
        }
    }
}
