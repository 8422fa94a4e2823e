//! Registered commands: each IRC command translated into core
//! `Command`s (or answered by the door), PRIVMSG/NOTICE/TAGMSG to their
//! targets.

use super::*;

impl Conn {
    pub(super) fn text(&self, s: &str) -> Result<Text, String> {
        Text::parse_exact(s, self.config.limits.max_message_bytes).map_err(|e| e.to_string())
    }

    /// A kick, part or quit reason: none when blank; its limit is the
    /// hub's to check.
    pub(super) fn reason(&self, s: Option<&str>) -> Result<Option<Text>, String> {
        match s {
            Some(r) if !r.trim().is_empty() => self.field(Field::Reason, r).map(Some),
            _ => Ok(None),
        }
    }

    /// A topic, away message, real name or reason: a text whose errors
    /// name what it is; its own limit is the hub's to check.
    pub(super) fn field(&self, what: Field, s: &str) -> Result<Text, String> {
        what.text(s, self.config.limits.max_message_bytes)
            .map_err(|e| e.to_string())
    }

    pub(super) fn room(&self, s: &str) -> Option<RoomName> {
        if !is_channel(s) {
            return None;
        }
        RoomName::parse(s, self.config.limits.max_room_len).ok()
    }

    pub(super) async fn no_such_channel(&mut self, name: &str) {
        self.num("403", &[name, "No such channel"]).await;
    }

    pub(super) async fn need_more(&mut self, cmd: &str) {
        self.num("461", &[cmd, "Not enough parameters"]).await;
    }

    /// A command of a registered client.
    pub(super) async fn registered_command(&mut self, msg: &Irc) {
        let cmd = msg.command.as_str();
        let p: Vec<&str> = msg.params.iter().map(String::as_str).collect();
        match cmd {
            "NICK" => {
                let Some(n) = p.first().filter(|n| !n.is_empty()) else {
                    return self.num("431", &["No nickname given"]).await;
                };
                match Nick::parse(n, self.config.limits.max_nick_len) {
                    Ok(nick) if nick.as_str() == self.nick => {}
                    Ok(nick) => {
                        self.command(Command::ChangeNick(nick), cmd, Kind::Plain)
                            .await
                    }
                    Err(_) => self.num("432", &[n, "Erroneous nickname"]).await,
                }
            }
            "JOIN" => {
                let Some(first) = p.first() else {
                    return self.need_more(cmd).await;
                };
                if *first == "0" {
                    let rooms: Vec<RoomKey> = self.channels.iter().cloned().collect();
                    for key in rooms {
                        if let Some(room) = self.room(key.as_str()) {
                            let part = Command::Part {
                                room: Some(room),
                                reason: None,
                            };
                            self.command(part, "PART", Kind::Plain).await;
                        }
                    }
                    return;
                }
                let keys = p.get(1).map(|k| list(k)).unwrap_or_default();
                for (i, name) in list(first).into_iter().enumerate() {
                    let Some(room) = self.room(name) else {
                        self.no_such_channel(name).await;
                        continue;
                    };
                    if self.channels.contains(&room.key()) {
                        continue;
                    }
                    let key = keys.get(i).map(|k| (*k).to_owned());
                    self.command(Command::Join { room, key }, cmd, Kind::Plain)
                        .await;
                }
            }
            "PART" => {
                let Some(first) = p.first() else {
                    return self.need_more(cmd).await;
                };
                let reason = match self.reason(p.get(1).copied()) {
                    Ok(reason) => reason,
                    Err(e) => return self.fail_text(cmd, &e).await,
                };
                for name in list(first) {
                    match self.room(name) {
                        Some(room) => {
                            let part = Command::Part {
                                room: Some(room),
                                reason: reason.clone(),
                            };
                            self.command(part, cmd, Kind::Plain).await;
                        }
                        None => self.no_such_channel(name).await,
                    }
                }
            }
            "PRIVMSG" | "NOTICE" => self.privmsg(cmd, &p).await,
            // Client tags are not relayed, except IRCv3's typing
            // notification, which every door understands.
            "TAGMSG" => {
                let Some(target) = p.first() else {
                    return self.need_more(cmd).await;
                };
                let active = match msg.tag("+typing") {
                    Some(Some("active" | "paused")) => true,
                    Some(Some("done")) => false,
                    _ => return,
                };
                let to = if is_channel(target) {
                    self.room(target).map(Target::Room)
                } else {
                    Nick::parse(target, usize::MAX).ok().map(Target::User)
                };
                match to {
                    Some(to) => {
                        let typing = Command::Typing { to, active };
                        self.command(typing, cmd, Kind::Plain).await;
                    }
                    None => {
                        self.num("401", &[&safe(target), "No such nick/channel"])
                            .await
                    }
                }
            }
            "TOPIC" => {
                let Some(name) = p.first() else {
                    return self.need_more(cmd).await;
                };
                let Some(room) = self.room(name) else {
                    return self.no_such_channel(name).await;
                };
                match p.get(1) {
                    None => {
                        self.command(Command::GetTopic(Some(room)), cmd, Kind::Topic)
                            .await
                    }
                    Some(t) if t.trim().is_empty() => {
                        let set = Command::SetTopic {
                            room: Some(room),
                            topic: None,
                        };
                        self.command(set, cmd, Kind::Plain).await;
                    }
                    Some(t) => match self.field(Field::Topic, t) {
                        Ok(text) => {
                            let set = Command::SetTopic {
                                room: Some(room),
                                topic: Some(text),
                            };
                            self.command(set, cmd, Kind::Plain).await;
                        }
                        Err(e) => self.fail_text(cmd, &e).await,
                    },
                }
            }
            "NAMES" => match p.first().and_then(|n| list(n).first().copied()) {
                Some(name) => match self.room(name) {
                    Some(room) => {
                        self.command(Command::Members(Some(room)), cmd, Kind::Names)
                            .await
                    }
                    None => self.num("366", &[name, "End of /NAMES list"]).await,
                },
                None => self.num("366", &["*", "End of /NAMES list"]).await,
            },
            "LIST" => {
                let asked = p
                    .first()
                    .filter(|a| is_channel(a))
                    .map(|a| {
                        list(a)
                            .into_iter()
                            .map(|c| c.to_ascii_lowercase())
                            .collect()
                    })
                    .unwrap_or_default();
                self.command(Command::Rooms, cmd, Kind::List(asked)).await;
            }
            "WHO" => {
                let mask = p.first().copied().unwrap_or("*");
                if let Some(room) = self.room(mask) {
                    self.command(
                        Command::Members(Some(room)),
                        cmd,
                        Kind::Who(mask.to_owned()),
                    )
                    .await;
                } else if let Ok(nick) = Nick::parse(mask, usize::MAX) {
                    let kind = Kind::WhoNick(mask.to_owned());
                    self.command(Command::Whois(vec![nick]), cmd, kind).await;
                } else {
                    self.num("315", &[mask, "End of WHO list"]).await;
                }
            }
            "WHOIS" => {
                let Some(target) = p.last().filter(|t| !t.is_empty()) else {
                    return self.num("431", &["No nickname given"]).await;
                };
                let names = list(target);
                let nicks: Vec<Nick> = names
                    .iter()
                    .filter_map(|n| Nick::parse(n, usize::MAX).ok())
                    .collect();
                if nicks.is_empty() {
                    self.num("401", &[target, "No such nick/channel"]).await;
                    return self.num("318", &[target, "End of /WHOIS list"]).await;
                }
                self.command(Command::Whois(nicks), cmd, Kind::Plain).await;
            }
            "WHOWAS" => {
                let Some(n) = p.first() else {
                    return self.num("431", &["No nickname given"]).await;
                };
                // A count that is not a positive number asks for every
                // entry (RFC 2812 3.6.3).
                let count = p.get(1).and_then(|c| c.trim().parse::<usize>().ok());
                let kind = count.filter(|&c| c > 0).map_or(Kind::Plain, Kind::Whowas);
                match Nick::parse(n, usize::MAX) {
                    Ok(nick) => self.command(Command::Whowas(nick), cmd, kind).await,
                    Err(_) => {
                        self.num("406", &[n, "There was no such nickname"]).await;
                        self.num("369", &[n, "End of WHOWAS"]).await;
                    }
                }
            }
            "ISON" | "USERHOST" => {
                if p.is_empty() {
                    return self.need_more(cmd).await;
                }
                let nicks: Vec<Nick> = p
                    .iter()
                    .flat_map(|s| s.split_whitespace())
                    .take(if cmd == "ISON" { 100 } else { 5 })
                    .filter_map(|n| Nick::parse(n, usize::MAX).ok())
                    .collect();
                let kind = if cmd == "ISON" {
                    Kind::Ison
                } else {
                    Kind::Userhost
                };
                self.command(Command::Whois(nicks), cmd, kind).await;
            }
            "AWAY" => {
                let away = match p.first().filter(|a| !a.trim().is_empty()) {
                    Some(a) => match self.field(Field::Away, a) {
                        Ok(t) => Some(t),
                        Err(e) => return self.fail_text(cmd, &e).await,
                    },
                    None => None,
                };
                self.command(Command::Away(away), cmd, Kind::Plain).await;
            }
            "SETNAME" => {
                let Some(name) = p.first().filter(|n| !n.trim().is_empty()) else {
                    return self.need_more(cmd).await;
                };
                // The hub checks it against the input rules; a refusal
                // comes back as FAIL SETNAME INVALID_REALNAME.
                match self.field(Field::Realname, name) {
                    Ok(name) => {
                        self.command(Command::SetRealname(name), cmd, Kind::Plain)
                            .await
                    }
                    Err(e) => {
                        let m = self
                            .view()
                            .server_msg("FAIL")
                            .with_param("SETNAME")
                            .with_param("INVALID_REALNAME")
                            .with_param(e);
                        self.fail(m).await;
                    }
                }
            }
            "MODE" => self.mode(&p).await,
            "KICK" => {
                if p.len() < 2 {
                    return self.need_more(cmd).await;
                }
                let Some(room) = self.room(p[0]) else {
                    return self.no_such_channel(p[0]).await;
                };
                let reason = match self.reason(p.get(2).copied()) {
                    Ok(reason) => reason,
                    Err(e) => return self.fail_text(cmd, &e).await,
                };
                for n in list(p[1]) {
                    match Nick::parse(n, usize::MAX) {
                        Ok(nick) => {
                            let kick = Command::Kick {
                                room: room.clone(),
                                nick,
                                reason: reason.clone(),
                            };
                            self.command(kick, cmd, Kind::Plain).await;
                        }
                        Err(_) => self.num("401", &[n, "No such nick/channel"]).await,
                    }
                }
            }
            "INVITE" => {
                if p.len() < 2 {
                    return self.need_more(cmd).await;
                }
                let Ok(nick) = Nick::parse(p[0], usize::MAX) else {
                    return self.num("401", &[p[0], "No such nick/channel"]).await;
                };
                let Some(room) = self.room(p[1]) else {
                    return self.no_such_channel(p[1]).await;
                };
                self.command(Command::Invite { nick, room }, cmd, Kind::Plain)
                    .await;
            }
            "LUSERS" => self.command(Command::Stats, cmd, Kind::Plain).await,
            "MOTD" => {
                let m = self.motd();
                self.reply(m).await;
            }
            "VERSION" => {
                let view = self.view();
                let mut msgs =
                    vec![view.num("351", &[VERSION, &view.server, "IRCv3 capable chat server"])];
                msgs.extend(self.isupport());
                self.reply(msgs).await;
            }
            "TIME" => {
                let t = Utc::now().to_rfc2822();
                let server = self.config.irc.server_name.clone();
                self.num("391", &[&server, &t]).await;
            }
            "INFO" => {
                let view = self.view();
                let msgs = vec![
                    view.num(
                        "371",
                        &[&format!(
                            "{VERSION}: one server for telnet, IRC and the web"
                        )],
                    ),
                    view.num("374", &["End of INFO list"]),
                ];
                self.reply(msgs).await;
            }
            "ADMIN" => {
                let view = self.view();
                let msgs = vec![
                    view.num("256", &[&view.server, "Administrative info"]),
                    view.num("257", &["confab"]),
                    view.num("258", &["Run with confab serve"]),
                    view.num("259", &["root@localhost"]),
                ];
                self.reply(msgs).await;
            }
            "OPER" => {
                if p.len() < 2 {
                    return self.need_more(cmd).await;
                }
                let opers = self.config.opers.clone();
                let ip = self.peer.ip();
                match auth::oper(&self.hub, &opers, p[0], p[1].to_owned(), ip).await {
                    Ok(Ok(name)) => self.command(Command::Oper(name), cmd, Kind::Plain).await,
                    Ok(Err(auth::OperError::NoSuchOper)) => {
                        self.num("491", &["No O-lines for your host"]).await
                    }
                    Ok(Err(auth::OperError::Wrong)) => {
                        self.num("464", &["Password incorrect"]).await
                    }
                    Ok(Err(e @ auth::OperError::Limited(_))) => {
                        self.num("464", &[&e.to_string()]).await
                    }
                    Err(_) => self.closing = Some("Server shutting down".into()),
                }
            }
            "KILL" => {
                if p.len() < 2 {
                    return self.need_more(cmd).await;
                }
                let Ok(nick) = Nick::parse(p[0], usize::MAX) else {
                    return self
                        .num("401", &[&safe(p[0]), "No such nick/channel"])
                        .await;
                };
                let reason = match self.reason(p.get(1).copied()) {
                    Ok(reason) => reason,
                    Err(e) => return self.fail_text(cmd, &e).await,
                };
                self.command(Command::Kill { nick, reason }, cmd, Kind::Plain)
                    .await;
            }
            "WALLOPS" => {
                let Some(text) = p.first().filter(|t| !t.is_empty()) else {
                    return self.need_more(cmd).await;
                };
                match self.text(text) {
                    Ok(text) => self.command(Command::Wallops(text), cmd, Kind::Plain).await,
                    Err(e) => self.fail_text(cmd, &e).await,
                }
            }
            // Solanum's syntax: KLINE [minutes] mask [:reason].
            "KLINE" => {
                let (minutes, rest) = match p.first().map(|m| m.parse::<u64>()) {
                    Some(Ok(m)) => (Some(m), &p[1..]),
                    _ => (None, &p[..]),
                };
                let Some(mask) = rest.first() else {
                    return self.need_more(cmd).await;
                };
                let reason = match self.reason(rest.get(1).copied()) {
                    Ok(reason) => reason,
                    Err(e) => return self.fail_text(cmd, &e).await,
                };
                let kline = Command::Kline {
                    mask: (*mask).to_owned(),
                    minutes,
                    reason,
                };
                self.command(kline, cmd, Kind::Plain).await;
            }
            "UNKLINE" => {
                let Some(mask) = p.first() else {
                    return self.need_more(cmd).await;
                };
                self.command(Command::Unkline((*mask).to_owned()), cmd, Kind::Plain)
                    .await;
            }
            "STATS" => match p.first().copied() {
                Some("k" | "K") => self.command(Command::Klines, cmd, Kind::Plain).await,
                Some(q) => {
                    let q = safe(q);
                    self.num("219", &[&q, "End of /STATS report"]).await
                }
                None => self.need_more(cmd).await,
            },
            "SUSPENSIONS" => {
                self.command(Command::Suspensions, cmd, Kind::Plain).await;
            }
            "SUSPEND" | "UNSUSPEND" => {
                let Some(name) = p.first() else {
                    return self.need_more(cmd).await;
                };
                let Ok(name) = Nick::parse(name, usize::MAX) else {
                    return self
                        .num("401", &[&safe(name), "No such nick/channel"])
                        .await;
                };
                let c = if cmd == "SUSPEND" {
                    let reason = match self.reason(p.get(1).copied()) {
                        Ok(reason) => reason,
                        Err(e) => return self.fail_text(cmd, &e).await,
                    };
                    Command::Suspend { name, reason }
                } else {
                    Command::Unsuspend(name)
                };
                self.command(c, cmd, Kind::Plain).await;
            }
            "LOCKDOWN" => {
                let on = match p.first().map(|s| s.to_ascii_uppercase()) {
                    None => None,
                    Some(s) if s == "ON" => Some(true),
                    Some(s) if s == "OFF" => Some(false),
                    Some(_) => {
                        return self
                            .fail_text(cmd, "LOCKDOWN takes ON, OFF or nothing")
                            .await;
                    }
                };
                self.command(Command::Lockdown(on), cmd, Kind::Plain).await;
            }
            "DIE" | "RESTART" | "SQUIT" | "CONNECT" | "REHASH" => {
                self.num("481", &["Permission Denied- You're not an IRC operator"])
                    .await;
            }
            "CHATHISTORY" => self.chathistory(&p).await,
            "MARKREAD" => self.markread(&p).await,
            "NICKSERV" | "NS" => {
                let text = p.join(" ");
                self.nickserv(&text).await;
            }
            _ => {
                let c = msg.command.clone();
                self.num("421", &[&c, "Unknown command"]).await;
            }
        }
    }

    pub(super) async fn fail_text(&mut self, cmd: &str, why: &str) {
        let m = self
            .view()
            .server_msg("FAIL")
            .with_param(cmd.to_owned())
            .with_param("INVALID_TEXT")
            .with_param(why.to_owned());
        self.fail(m).await;
    }

    pub(super) async fn privmsg(&mut self, cmd: &str, p: &[&str]) {
        let notice = cmd == "NOTICE";
        let Some(targets) = p.first().filter(|t| !t.is_empty()) else {
            if notice {
                return;
            }
            return self
                .num("411", &[&format!("No recipient given ({cmd})")])
                .await;
        };
        let Some(raw) = p.get(1).filter(|t| !t.is_empty()) else {
            if notice {
                return;
            }
            return self.num("412", &["No text to send"]).await;
        };
        let (kind, body) = if notice {
            (MsgKind::Notice, *raw)
        } else if let Some(action) = raw.strip_prefix("\x01ACTION ") {
            (MsgKind::Action, action.trim_end_matches('\x01'))
        } else {
            (MsgKind::Say, *raw)
        };
        let text = match self.text(body) {
            Ok(t) => t,
            Err(e) => {
                if notice {
                    return;
                }
                return self.fail_text(cmd, &e).await;
            }
        };
        let targets = list(targets);
        if targets.len() > MAX_TARGETS {
            return self.num("407", &[targets[0], "Too many targets"]).await;
        }
        for t in targets {
            if t.eq_ignore_ascii_case(SERVICE) {
                self.nickserv(text.as_str()).await;
                continue;
            }
            let to = if is_channel(t) {
                match self.room(t) {
                    Some(r) => Target::Room(r),
                    None => {
                        if !notice {
                            self.num("403", &[t, "No such channel"]).await;
                        }
                        continue;
                    }
                }
            } else {
                match Nick::parse(t, usize::MAX) {
                    Ok(n) => Target::User(n),
                    Err(_) => {
                        if !notice {
                            self.num("401", &[t, "No such nick/channel"]).await;
                        }
                        continue;
                    }
                }
            };
            let send = Command::Send {
                to: Some(to),
                kind,
                text: text.clone(),
            };
            self.command(send, cmd, Kind::Plain).await;
        }
    }
}
