//! The connection's replies: events and refusals rendered as IRC for
//! this client (what it asked, its capabilities), the registration burst
//! (ISUPPORT, LUSERS, MOTD), WHO and WHOIS lines, batches.

use super::*;

impl Conn {
    /// An event for this client, read in the light of the command it
    /// answers (if it answers one of this connection's).
    pub(super) fn render(&mut self, d: &Delivery, command: &str, kind: &Kind) -> Vec<Irc> {
        let view = self.view();
        let me = self.nick.clone();
        let is_me = |n: &Nick| n.as_str().eq_ignore_ascii_case(&me);
        match &d.event {
            Event::Welcome { nick, online } => {
                let old = std::mem::replace(&mut self.nick, nick.to_string());
                self.logged_in = true;
                if *kind == Kind::Identify || self.account.is_some() {
                    self.is_account = true;
                }
                if !self.registered {
                    self.registered = true;
                    self.registered_tidy();
                    return self.burst(*online);
                }
                let mut out = Vec::new();
                if command == "AUTHENTICATE" {
                    // SASL once registered: told first, as SASL's replies
                    // end (to the nick the client has until the NICK below).
                    let mut view = self.view();
                    view.nick = old.clone();
                    let said = format!("You are now logged in as {}", self.nick);
                    out.push(view.num("900", &[&self.my_mask(), &self.nick, &said]));
                    out.push(view.num("903", &["SASL authentication successful"]));
                }
                // The guest left its channels.
                let source = confab_core::event::mask(&old, self.ident(), self.host());
                out.extend(std::mem::take(&mut self.channels)
                    .into_iter()
                    .map(|c| {
                        Irc::new("PART")
                            .with_source(source.clone())
                            .with_param(c.as_str())
                            .with_param("Identified")
                    }));
                if old != self.nick {
                    out.push(
                        Irc::new("NICK")
                            .with_source(source)
                            .with_param(self.nick.clone()),
                    );
                }
                if command == "NICKSERV" {
                    let text = format!("You are now identified as {}", self.nick);
                    out.push(self.service_notice(&text));
                }
                if command != "AUTHENTICATE" {
                    out.push(self.view().num(
                        "900",
                        &[&self.my_mask(), &self.nick, "You are now logged in"],
                    ));
                }
                out
            }
            Event::Message { msg, .. } => render::message_lines(msg, d.actor.as_deref(), self.caps),
            Event::Joined { room, nick } => {
                if is_me(nick) {
                    self.channels.insert(room.key());
                }
                render::broadcast(d, &view)
            }
            Event::Parted { room, nick, .. } => {
                if is_me(nick) {
                    self.channels.remove(&room.key());
                }
                render::broadcast(d, &view)
            }
            Event::Kicked { room, nick, .. } => {
                if is_me(nick) {
                    self.channels.remove(&room.key());
                }
                render::broadcast(d, &view)
            }
            Event::NickChanged { old, new } => {
                let out = render::broadcast(d, &view);
                if is_me(old) {
                    self.nick = new.to_string();
                }
                out
            }
            Event::Invited { room, nick, .. } if !command.is_empty() && !is_me(nick) => {
                vec![view.num("341", &[nick.as_str(), room.as_str()])]
            }
            Event::AwayChanged { nick, away } if is_me(nick) => {
                if command.is_empty() {
                    return Vec::new();
                }
                match away {
                    Some(_) => vec![view.num("306", &["You have been marked as being away"])],
                    None => vec![view.num("305", &["You are no longer marked as being away"])],
                }
            }
            Event::RealnameChanged { nick, .. } if is_me(nick) && !self.caps.setname => Vec::new(),
            Event::TopicIs { room, topic } => match topic {
                Some(t) => vec![
                    view.num("332", &[room.as_str(), t.text.as_str()]),
                    view.num(
                        "333",
                        &[room.as_str(), t.by.as_str(), &(t.time.0 / 1000).to_string()],
                    ),
                ],
                None if *kind == Kind::Topic => {
                    vec![view.num("331", &[room.as_str(), "No topic is set"])]
                }
                None => Vec::new(),
            },
            Event::Members {
                room,
                members,
                secret,
            } => match kind {
                Kind::Who(mask) => {
                    let mut out: Vec<Irc> = members
                        .iter()
                        .map(|m| self.who_line(room.as_str(), &m.who, m.away, m.oper, m.status))
                        .collect();
                    out.push(view.num("315", &[mask, "End of WHO list"]));
                    out
                }
                _ => {
                    let mut names = Vec::new();
                    for m in members {
                        let p = render::prefix(m.status, self.caps.multi_prefix);
                        if self.caps.userhost_in_names {
                            names.push(format!("{p}{}", m.who.mask()));
                        } else {
                            names.push(format!("{p}{}", m.who.nick));
                        }
                    }
                    let mut out = Vec::new();
                    // `@` a secret channel, `=` a public one (RFC 2812 353).
                    let kind_char = if *secret { "@" } else { "=" };
                    // 353 lines that fit in 512 bytes.
                    let overhead = view.server.len() + self.nick.len() + room.as_str().len() + 20;
                    let mut line = String::new();
                    for n in names {
                        if !line.is_empty() && line.len() + n.len() + 1 + overhead > MAX_LINE {
                            out.push(view.num("353", &[kind_char, room.as_str(), &line]));
                            line.clear();
                        }
                        if !line.is_empty() {
                            line.push(' ');
                        }
                        line.push_str(&n);
                    }
                    if !line.is_empty() {
                        out.push(view.num("353", &[kind_char, room.as_str(), &line]));
                    }
                    out.push(view.num("366", &[room.as_str(), "End of /NAMES list"]));
                    out
                }
            },
            Event::Rooms(rooms) => {
                let mut out = vec![view.num("321", &["Channel", "Users  Name"])];
                let asked = match kind {
                    Kind::List(asked) => asked.clone(),
                    _ => Vec::new(),
                };
                for r in rooms {
                    if !asked.is_empty() && !asked.iter().any(|a| *a == r.name.key().as_str()) {
                        continue;
                    }
                    let topic = r.topic.as_ref().map_or("", |t| t.as_str());
                    out.push(view.num("322", &[r.name.as_str(), &r.members.to_string(), topic]));
                }
                out.push(view.num("323", &["End of /LIST"]));
                out
            }
            Event::Modes {
                room,
                modes,
                created,
            } => {
                let (flags, params) = modes.to_flags();
                let mut p = vec![room.as_str().to_owned(), flags];
                p.extend(params);
                let p: Vec<&str> = p.iter().map(String::as_str).collect();
                vec![
                    view.num("324", &p),
                    view.num("329", &[room.as_str(), &(created.0 / 1000).to_string()]),
                ]
            }
            Event::Bans { room, bans } => {
                let mut out: Vec<Irc> = bans
                    .iter()
                    .map(|b| {
                        view.num(
                            "367",
                            &[
                                room.as_str(),
                                &b.mask,
                                b.by.as_str(),
                                &(b.time.0 / 1000).to_string(),
                            ],
                        )
                    })
                    .collect();
                out.push(view.num("368", &[room.as_str(), "End of channel ban list"]));
                out
            }
            Event::IsAway { nick, away } => {
                vec![view.num("301", &[nick.as_str(), away.as_str()])]
            }
            Event::Whois { found, missing } => self.whois_reply(kind, found, missing),
            Event::Whowas { nick, entries } => {
                let mut out = Vec::new();
                if entries.is_empty() {
                    out.push(view.num("406", &[nick.as_str(), "There was no such nickname"]));
                }
                let count = match kind {
                    Kind::Whowas(count) => *count,
                    _ => usize::MAX,
                };
                for e in entries.iter().take(count) {
                    let w = &e.who;
                    out.push(view.num(
                        "314",
                        &[w.nick.as_str(), &w.ident, &w.host, "*", &w.realname],
                    ));
                    out.push(view.num("312", &[w.nick.as_str(), &view.server, &iso_date(e.time)]));
                }
                out.push(view.num("369", &[nick.as_str(), "End of WHOWAS"]));
                out
            }
            Event::Stats {
                users,
                invisible,
                sessions: _,
                opers,
                rooms,
                max_users,
            } => self.lusers(
                Lusers {
                    users: *users,
                    invisible: *invisible,
                    opers: *opers,
                    max: *max_users,
                },
                Some(*rooms),
            ),
            Event::History { messages, .. } => match kind {
                Kind::History(_, name) => self.history_batch(name, messages),
                // History on joining: clients fetch it with CHATHISTORY.
                _ => Vec::new(),
            },
            Event::Conversations(list) => {
                let mut inner = Vec::new();
                for (target, time) in list {
                    inner.push(
                        view.server_msg("CHATHISTORY")
                            .with_param("TARGETS")
                            .with_param(target.to_string())
                            .with_param(crate::time::rfc3339(*time)),
                    );
                }
                self.batch("draft/chathistory-targets", &[], inner)
            }
            Event::KeptForOffline { nick, guest: false } => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(format!(
                        "{nick} is offline; they will get your message when they return"
                    )),
            ],
            Event::KeptForOffline { nick, guest: true } => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(format!(
                        "{nick} is offline and has no account: your message is kept for whoever next uses the name"
                    )),
            ],
            Event::OfflineMessages { count } => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(format!("{count} messages arrived while you were away")),
            ],
            Event::Registered { nick } => {
                self.is_account = true;
                let mut out = vec![self.service_notice(&format!(
                    "Account {nick} registered; log in with SASL or /msg NickServ IDENTIFY next time"
                ))];
                out.push(view.num(
                    "900",
                    &[
                        &self.my_mask(),
                        nick.as_str(),
                        &format!("You are now logged in as {nick}"),
                    ],
                ));
                out
            }
            Event::ServerNotice(text) => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(text.clone()),
            ],
            Event::OperDone(done) => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(done.to_string()),
            ],
            Event::Suspensions(list) => {
                let said = match list.len() {
                    0 => "No suspended accounts".to_owned(),
                    n => format!("{n} suspended accounts:"),
                };
                let notice = |text: String| {
                    view.server_msg("NOTICE")
                        .with_param(self.nick.clone())
                        .with_param(text)
                };
                let mut out = vec![notice(said)];
                out.extend(
                    list.iter()
                        .map(|(name, reason)| notice(format!("  {name} ({reason})"))),
                );
                out
            }
            Event::Announcement(text) => vec![
                view.server_msg("NOTICE")
                    .with_param(self.nick.clone())
                    .with_param(format!("[Announcement] {text}")),
            ],
            Event::Klines(list) => {
                let mut out: Vec<Irc> = list
                    .iter()
                    .map(|k| {
                        let expires = k.expires.map_or("never".to_owned(), |t| {
                            crate::time::rfc3339(t)
                        });
                        view.num(
                            "216",
                            &[
                                "K",
                                &k.mask.to_string(),
                                &format!("{} (by {}, expires {expires})", k.reason, k.by),
                            ],
                        )
                    })
                    .collect();
                out.push(view.num("219", &["K", "End of /STATS report"]));
                out
            }
            Event::YoureOper { .. } => {
                self.oper = true;
                vec![
                    view.num("381", &["You are now an IRC operator"]),
                    Irc::new("MODE")
                        .with_source(self.nick.clone())
                        .with_param(self.nick.clone())
                        .with_param("+o"),
                ]
            }
            Event::NoLongerOper => {
                self.oper = false;
                vec![
                    Irc::new("MODE")
                        .with_source(self.nick.clone())
                        .with_param(self.nick.clone())
                        .with_param("-o"),
                ]
            }
            Event::Bye { reason } => {
                self.closing = Some(reason.as_str().into());
                let host = self.host();
                vec![Irc::new("ERROR").with_param(format!("Closing Link: {host} ({reason})"))]
            }
            Event::Error(e) => self.error(e, command, kind),
            // The asker always hears; other sessions (and joins) with the
            // capability.
            Event::ReadMarker { target, marker }
                if self.caps.read_marker || command == "MARKREAD" =>
            {
                let stamp = match marker {
                    Some(m) => format!("timestamp={}", crate::time::rfc3339(m.time)),
                    None => "*".to_owned(),
                };
                vec![
                    view.server_msg("MARKREAD")
                        .with_param(target.to_string())
                        .with_param(stamp),
                ]
            }
            Event::ReadMarker { .. } | Event::ReadMarkers(_) => Vec::new(),
            Event::IgnoreChanged { .. }
            | Event::Ignores(_)
            | Event::Users(_)
            | Event::TargetChanged(_)
            | Event::SearchResults { .. } => Vec::new(),
            _ => render::broadcast(d, &view),
        }
    }

    pub(super) fn error(&mut self, e: &ChatError, command: &str, kind: &Kind) -> Vec<Irc> {
        if command == "NOTICE" {
            // A NOTICE is never answered automatically, errors included.
            return Vec::new();
        }
        if let (Kind::Names, ChatError::NoSuchRoom(r)) = (kind, e) {
            return vec![self.view().num("366", &[r.as_str(), "End of /NAMES list"])];
        }
        // A missing channel (or a secret one the client is not in) has
        // nobody to list.
        if let (Kind::Who(mask), ChatError::NoSuchRoom(_)) = (kind, e) {
            return vec![self.view().num("315", &[mask, "End of WHO list"])];
        }
        match kind {
            Kind::Login => {
                // The nick was refused at registration: ask for another.
                self.login_sent = false;
                let view = self.view();
                match e {
                    ChatError::NickInUse(_)
                    | ChatError::NickRegistered(_)
                    | ChatError::NickReserved(_) => vec![render::error(e, command, &view)],
                    // ERR_YOUREBANNEDCREEP; the goodbye follows.
                    // 465, whatever command carried the login (NICK too).
                    ChatError::ServerBanned(_) | ChatError::Suspended { .. } => {
                        self.closing = Some(e.to_string().into());
                        vec![render::error(e, "", &view)]
                    }
                    _ => {
                        self.closing = Some(e.to_string().into());
                        vec![
                            view.server_msg("FAIL")
                                .with_param("*")
                                .with_param("ACCOUNT_REQUIRED")
                                .with_param(e.to_string()),
                        ]
                    }
                }
            }
            Kind::Identify | Kind::NickServ => vec![self.service_notice(&e.to_string())],
            Kind::MarkRead(target) => {
                let code = match e {
                    ChatError::NotInRoom(_)
                    | ChatError::NoSuchRoom(_)
                    | ChatError::NoSuchUser(_)
                    | ChatError::NoSuchMessage { .. } => "INVALID_PARAMS",
                    _ => "INTERNAL_ERROR",
                };
                vec![
                    self.view()
                        .server_msg("FAIL")
                        .with_param("MARKREAD")
                        .with_param(code)
                        .with_param(safe(target))
                        .with_param(e.to_string()),
                ]
            }
            Kind::History(..) | Kind::Targets => {
                let view = self.view();
                let code = match e {
                    ChatError::NotInRoom(_)
                    | ChatError::NoSuchRoom(_)
                    | ChatError::Banned(_)
                    | ChatError::GuestsNoPrivateHistory => "INVALID_TARGET",
                    _ => "MESSAGE_ERROR",
                };
                let mut m = view
                    .server_msg("FAIL")
                    .with_param("CHATHISTORY")
                    .with_param(code);
                match kind {
                    Kind::History(sub, target) => {
                        m = m.with_param(sub.clone()).with_param(safe(target));
                    }
                    _ => m = m.with_param("TARGETS"),
                }
                vec![m.with_param(e.to_string())]
            }
            _ => vec![render::error(e, command, &self.view())],
        }
    }

    pub(super) fn service_notice(&self, text: &str) -> Irc {
        Irc::new("NOTICE")
            .with_source(format!(
                "{SERVICE}!{SERVICE}@services.{}",
                self.config.irc.server_name
            ))
            .with_param(self.nick.clone())
            .with_param(text.to_owned())
    }

    pub(super) fn batch(&mut self, kind: &str, params: &[&str], inner: Vec<Irc>) -> Vec<Irc> {
        if !self.caps.batch {
            return inner;
        }
        let id = format!("B{}", self.next_req);
        self.next_req += 1;
        let mut start = self
            .view()
            .server_msg("BATCH")
            .with_param(format!("+{id}"))
            .with_param(kind.to_owned());
        for p in params {
            start = start.with_param(*p);
        }
        let mut out = vec![start];
        out.extend(inner.into_iter().map(|m| m.with_tag("batch", Some(&id))));
        out.push(self.view().server_msg("BATCH").with_param(format!("-{id}")));
        out
    }

    pub(super) fn history_batch(
        &mut self,
        name: &str,
        messages: &[confab_core::Message],
    ) -> Vec<Irc> {
        let caps = Caps {
            server_time: true,
            message_tags: true,
            account_tag: self.caps.account_tag,
            ..Caps::default()
        };
        let mut inner = Vec::new();
        for m in messages {
            inner.extend(render::message_lines(m, None, caps));
        }
        self.batch("chathistory", &[name], inner)
    }

    pub(super) fn who_line(
        &self,
        channel: &str,
        who: &confab_core::Actor,
        away: bool,
        oper: bool,
        status: confab_core::Status,
    ) -> Irc {
        // H or G (here or gone), * for a server operator, then the
        // channel prefixes.
        let mut flags = String::from(if away { "G" } else { "H" });
        if oper {
            flags.push('*');
        }
        flags.push_str(&render::prefix(status, self.caps.multi_prefix));
        self.view().num(
            "352",
            &[
                channel,
                &who.ident,
                &who.host,
                &self.config.irc.server_name,
                who.nick.as_str(),
                &flags,
                &format!("0 {}", who.realname),
            ],
        )
    }

    pub(super) fn whois_reply(
        &self,
        kind: &Kind,
        found: &[confab_core::UserDetails],
        missing: &[Nick],
    ) -> Vec<Irc> {
        let view = self.view();
        let mut out = Vec::new();
        // Who is online: what ISON, USERHOST, WHO and MODE look at. WHOIS
        // also finds registered users who are offline.
        let online: Vec<&confab_core::UserDetails> =
            found.iter().filter(|u| u.last_seen.is_none()).collect();
        match kind {
            Kind::Ison => {
                let names: Vec<&str> = online.iter().map(|u| u.who.nick.as_str()).collect();
                out.push(view.num("303", &[&names.join(" ")]));
            }
            Kind::Userhost => {
                let items: Vec<String> = online
                    .iter()
                    .map(|u| {
                        let away = if u.away.is_some() { '-' } else { '+' };
                        format!("{}={away}{}@{}", u.who.nick, u.who.ident, u.who.host)
                    })
                    .collect();
                out.push(view.num("302", &[&items.join(" ")]));
            }
            Kind::UserMode(asked) => {
                if online.is_empty() {
                    out.push(view.num("401", &[asked, "No such nick/channel"]));
                } else {
                    out.push(view.num("502", &["Can't change mode for other users"]));
                }
            }
            Kind::WhoNick(mask) => {
                for u in online {
                    let channel = u.rooms.first().map_or("*".to_owned(), |r| r.0.to_string());
                    let status = u.rooms.first().map(|r| r.1).unwrap_or_default();
                    out.push(self.who_line(&channel, &u.who, u.away.is_some(), u.oper, status));
                }
                out.push(view.num("315", &[mask, "End of WHO list"]));
            }
            _ => {
                for u in found {
                    let w = &u.who;
                    let n = w.nick.as_str();
                    out.push(view.num("311", &[n, &w.ident, &w.host, "*", &w.realname]));
                    if !u.rooms.is_empty() {
                        let rooms: Vec<String> = u
                            .rooms
                            .iter()
                            .map(|(r, st)| {
                                format!("{}{r}", render::prefix(*st, self.caps.multi_prefix))
                            })
                            .collect();
                        out.push(view.num("319", &[n, &rooms.join(" ")]));
                    }
                    out.push(view.num("312", &[n, &view.server, "confab"]));
                    if let Some(a) = &u.away {
                        out.push(view.num("301", &[n, a.as_str()]));
                    }
                    if u.oper {
                        out.push(view.num("313", &[n, "is an IRC operator"]));
                    }
                    // RPL_WHOISACTUALLY: the real address, to an operator.
                    if let Some(ip) = u.address {
                        let ip = ip.to_string();
                        out.push(view.num("338", &[n, &ip, "actually using host"]));
                    }
                    if w.account {
                        out.push(view.num("330", &[n, n, "is logged in as"]));
                    }
                    if let Some(seen) = u.last_seen {
                        // RPL_WHOISSPECIAL: offline, and since when.
                        let said = format!("is offline, last seen {}", iso_date(seen));
                        out.push(view.num("320", &[n, &said]));
                    } else {
                        let idle = ((now().0 - u.last_active.0) / 1000).max(0).to_string();
                        let signon = (u.signon.0 / 1000).to_string();
                        out.push(
                            view.num("317", &[n, &idle, &signon, "seconds idle, signon time"]),
                        );
                    }
                    out.push(view.num("318", &[n, "End of /WHOIS list"]));
                }
                for n in missing {
                    out.push(view.num("401", &[n.as_str(), "No such nick/channel"]));
                    out.push(view.num("318", &[n.as_str(), "End of /WHOIS list"]));
                }
            }
        }
        out
    }

    /// 001–005, LUSERS and MOTD.
    pub(super) fn burst(&mut self, online: usize) -> Vec<Irc> {
        let irc = &self.config.irc;
        let view = self.view();
        let mut out = vec![
            view.num(
                "001",
                &[&format!(
                    "Welcome to the {} IRC Network {}",
                    irc.network,
                    self.my_mask()
                )],
            ),
            view.num(
                "002",
                &[&format!(
                    "Your host is {}, running version {VERSION}",
                    irc.server_name
                )],
            ),
            view.num("003", &["This server was created at start-up"]),
            view.num(
                "004",
                &[&irc.server_name, VERSION, "iw", "biklmnostv", "bklov"],
            ),
        ];
        out.extend(self.isupport());
        // A welcome's counts: the users online (an operator or an
        // invisible user among them is counted when LUSERS asks).
        let counts = Lusers {
            users: online,
            invisible: 0,
            opers: 0,
            max: online,
        };
        out.extend(self.lusers(counts, None));
        out.extend(self.motd());
        out
    }

    pub(super) fn isupport(&self) -> Vec<Irc> {
        let l = &self.config.limits;
        let tokens = [
            format!("AWAYLEN={}", l.max_away_bytes),
            "CASEMAPPING=ascii".to_owned(),
            format!("CHANLIMIT=#:{}", l.max_rooms_per_user),
            "CHANMODES=b,k,l,imnst".to_owned(),
            format!("CHANNELLEN={}", l.max_room_len),
            "CHANTYPES=#".to_owned(),
            format!("CHATHISTORY={CHATHISTORY_MAX}"),
            "ELIST=".to_owned(),
            "HOSTLEN=64".to_owned(),
            format!("KEYLEN={}", l.max_key_bytes),
            format!("KICKLEN={}", l.max_reason_bytes),
            format!("MAXLIST=b:{}", self.config.chat.max_bans),
            "MODES=4".to_owned(),
            "MSGREFTYPES=msgid,timestamp".to_owned(),
            format!("NETWORK={}", self.config.irc.network),
            format!("NICKLEN={}", l.max_nick_len),
            "PREFIX=(ov)@+".to_owned(),
            format!(
                "TARGMAX=NAMES:1,LIST:1,KICK:1,WHOIS:1,PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},JOIN:,PART:"
            ),
            format!("TOPICLEN={}", l.max_topic_bytes),
            "USERLEN=16".to_owned(),
            "UTF8ONLY".to_owned(),
        ];
        let view = self.view();
        tokens
            .chunks(12)
            .map(|chunk| {
                let mut p: Vec<&str> = chunk.iter().map(String::as_str).collect();
                p.push("are supported by this server");
                view.num("005", &p)
            })
            .collect()
    }

    pub(super) fn lusers(&self, counts: Lusers, rooms: Option<usize>) -> Vec<Irc> {
        let Lusers {
            users,
            invisible,
            opers,
            max,
        } = counts;
        let view = self.view();
        let u = users.to_string();
        let visible = users.saturating_sub(invisible);
        let mut out = vec![view.num(
            "251",
            &[&format!(
                "There are {visible} users and {invisible} invisible on 1 servers"
            )],
        )];
        out.push(view.num("252", &[&opers.to_string(), "operator(s) online"]));
        if let Some(r) = rooms {
            out.push(view.num("254", &[&r.to_string(), "channels formed"]));
        }
        out.push(view.num("255", &[&format!("I have {users} clients and 0 servers")]));
        out.push(view.num(
            "265",
            &[
                &u,
                &max.to_string(),
                &format!("Current local users {users}, max {max}"),
            ],
        ));
        out.push(view.num(
            "266",
            &[
                &u,
                &max.to_string(),
                &format!("Current global users {users}, max {max}"),
            ],
        ));
        out
    }

    pub(super) fn motd(&self) -> Vec<Irc> {
        let view = self.view();
        let motd = &self.config.irc.motd;
        if motd.trim().is_empty() {
            return vec![view.num("422", &["MOTD File is missing"])];
        }
        let mut out = vec![view.num(
            "375",
            &[&format!("- {} Message of the day - ", view.server)],
        )];
        for line in motd.lines() {
            for piece in confab_irc::split_text(if line.is_empty() { " " } else { line }, 400) {
                out.push(view.num("372", &[&format!("- {piece}")]));
            }
        }
        out.push(view.num("376", &["End of /MOTD command."]));
        out
    }
}

/// The counts LUSERS shows.
pub(super) struct Lusers {
    pub users: usize,
    pub invisible: usize,
    pub opers: usize,
    pub max: usize,
}
