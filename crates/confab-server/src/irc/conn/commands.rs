//! Running a command: its steps come from the door's command table
//! (`irc/commands.rs`, pure); this runs them in order and does the door
//! actions that need the connection (OPER's password, the server's own
//! details, HELP).

use super::*;
use crate::irc::commands::{self as table, Ctx, Door, Step};

impl Conn {
    /// What a translation may look at.
    pub(super) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            limits: &self.config.limits,
            nick: &self.nick,
            // `my_mask`'s length, without making it for every line.
            source_len: self.nick.len() + 1 + self.ident().len() + 1 + self.host.len(),
            channels: &self.channels,
            registered: self.logged_in,
        }
    }

    pub(super) fn room(&self, s: &str) -> Option<RoomName> {
        self.ctx().room(s)
    }

    pub(super) async fn no_such_channel(&mut self, name: &str) {
        self.num("403", &[name, "No such channel"]).await;
    }

    pub(super) async fn need_more(&mut self, cmd: &str) {
        self.num("461", &[cmd, "Not enough parameters"]).await;
    }

    /// A line of the client (past its label): the table's steps for it.
    pub(super) async fn run(&mut self, msg: &Irc) {
        let steps = table::steps(msg, &self.ctx());
        for step in steps {
            match step {
                Step::Hub(cmd, kind) => self.command(cmd, &msg.command, kind).await,
                Step::HubAs(name, cmd, kind) => self.command(cmd, name, kind).await,
                Step::Num(code, params) => {
                    let params: Vec<&str> = params.iter().map(String::as_str).collect();
                    self.num(code, &params).await;
                }
                Step::Fail(code, why) => {
                    let m = self
                        .view()
                        .server_msg("FAIL")
                        .with_param(msg.command.clone())
                        .with_param(code)
                        .with_param(why);
                    self.fail(m).await;
                }
                Step::Door(door) => self.door(msg, door).await,
            }
        }
    }

    async fn door(&mut self, msg: &Irc, door: Door) {
        match door {
            Door::Cap => self.cap(msg).await,
            Door::Authenticate => self.authenticate(msg).await,
            Door::Ping(token) => {
                let m = self
                    .view()
                    .server_msg("PONG")
                    .with_param(self.config.irc.server_name.clone())
                    .with_param(token);
                self.reply(vec![m]).await;
            }
            Door::Pong(params) => {
                // The answer to a page of kept messages: taken.
                let upto = params.iter().rev().find_map(|t| t.strip_prefix(KEPT_PING));
                if let Some(upto) = upto.and_then(|u| u.parse().ok())
                    && self.connected
                    && self.hub.kept_taken(self.sid, MsgId(upto)).await.is_err()
                {
                    self.closing = Some("Server shutting down".into());
                }
            }
            Door::Quit(reason) => {
                self.closed_by = ClosedBy::Client;
                if self.connected {
                    self.command(Command::Quit(reason), "QUIT", Kind::Plain)
                        .await;
                } else {
                    self.error_line("Quit");
                    self.closing = Some("Quit".into());
                }
            }
            Door::Pass(pass) => self.reg().pass = Some(pass),
            Door::Nick(nick) => {
                self.reg().wanted = Some(nick.to_string());
                self.try_register().await;
            }
            Door::User { ident, realname } => {
                self.ident = Some(ident.into());
                self.reg().realname = Some(realname);
                self.try_register().await;
            }
            Door::Mode(p) => {
                self.mode(&p.iter().map(String::as_str).collect::<Vec<_>>())
                    .await
            }
            Door::ChatHistory(p) => {
                self.chathistory(&p.iter().map(String::as_str).collect::<Vec<_>>())
                    .await
            }
            Door::MarkRead(p) => {
                self.markread(&p.iter().map(String::as_str).collect::<Vec<_>>())
                    .await
            }
            Door::Oper { name, password } => {
                let opers = self.config.opers.clone();
                let ip = self.peer.ip();
                match auth::oper(&self.hub, &opers, &name, password, ip).await {
                    Ok(Ok(name)) => {
                        self.command(Command::Oper(name), &msg.command, Kind::Plain)
                            .await
                    }
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
            Door::NickServ(text) => self.nickserv(&text).await,
            Door::Motd => {
                let m = self.motd();
                self.reply(m).await;
            }
            Door::Version => {
                let view = self.view();
                let mut msgs =
                    vec![view.num("351", &[VERSION, &view.server, "IRCv3 capable chat server"])];
                msgs.extend(self.isupport());
                self.reply(msgs).await;
            }
            Door::Time => {
                let t = Utc::now().to_rfc2822();
                let server = self.config.irc.server_name.clone();
                self.num("391", &[&server, &t]).await;
            }
            Door::Info => {
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
            Door::Admin => {
                let view = self.view();
                let msgs = vec![
                    view.num("256", &[&view.server, "Administrative info"]),
                    view.num("257", &["confab"]),
                    view.num("258", &["Run with confab serve"]),
                    view.num("259", &["root@localhost"]),
                ];
                self.reply(msgs).await;
            }
            Door::Help(subject) => {
                let msgs = self.help(subject.as_deref());
                self.reply(msgs).await;
            }
        }
    }

    /// `HELP`: every command's help line, or one command's (704, 705,
    /// 706; 524 for a command there is none of).
    fn help(&self, subject: Option<&str>) -> Vec<Irc> {
        let view = self.view();
        let Some(subject) = subject else {
            let mut out = vec![view.num("704", &["*", "confab's IRC commands:"])];
            out.extend(
                table::COMMANDS
                    .iter()
                    .map(|spec| view.num("705", &["*", spec.help])),
            );
            out.push(view.num("706", &["*", "End of /HELP"]));
            return out;
        };
        let subject = safe(subject);
        match table::find(&subject) {
            Some(spec) => vec![
                view.num("704", &[spec.name, spec.help]),
                view.num("706", &[spec.name, "End of /HELP"]),
            ],
            None => vec![view.num("524", &[&subject, "No help available on this topic"])],
        }
    }
}
