//! MODE: a channel's modes, bans and member status, and user modes.

use super::*;

impl Conn {
    pub(super) async fn mode(&mut self, p: &[&str]) {
        let Some(target) = p.first() else {
            return self.need_more("MODE").await;
        };
        if !is_channel(target) {
            // User modes: only our own, kept by the door.
            if !target.eq_ignore_ascii_case(&self.nick) {
                if let Ok(nick) = Nick::parse(target, usize::MAX) {
                    let kind = Kind::UserMode((*target).to_owned());
                    return self.command(Command::Whois(vec![nick]), "MODE", kind).await;
                }
                return self
                    .num("401", &[&safe(target), "No such nick/channel"])
                    .await;
            }
            let Some(modes) = p.get(1) else {
                let m = format!(
                    "+{}{}",
                    if self.invisible { "i" } else { "" },
                    if self.oper { "o" } else { "" }
                );
                return self.num("221", &[&m]).await;
            };
            let mut add = true;
            let mut changed = String::new();
            let mut unknown = false;
            let mut deoper = false;
            for c in modes.chars() {
                match c {
                    '+' => add = true,
                    '-' => add = false,
                    'i' => {
                        if self.invisible != add {
                            self.invisible = add;
                            changed.push(if add { '+' } else { '-' });
                            changed.push('i');
                        }
                    }
                    // Operator status comes only from OPER, and goes.
                    'o' | 'O' if !add && self.oper => deoper = true,
                    'w' | 'o' | 'O' => {}
                    _ => unknown = true,
                }
            }
            if unknown {
                self.num("501", &["Unknown MODE flag"]).await;
            }
            if !changed.is_empty() {
                let m = Irc::new("MODE")
                    .with_source(self.my_mask())
                    .with_param(self.nick.clone())
                    .with_param(changed);
                self.reply(vec![m]).await;
                // WHO and member lists leave an invisible user out for
                // those who share no channel with it: the hub's to know.
                let invisible = Command::SetInvisible(self.invisible);
                self.command(invisible, "MODE", Kind::Plain).await;
            }
            if deoper {
                // The hub's answer is the `MODE -o` the client sees.
                self.command(Command::Deoper, "MODE", Kind::Plain).await;
            }
            return;
        }
        let Some(room) = self.room(target) else {
            return self.no_such_channel(target).await;
        };
        let Some(modes) = p.get(1) else {
            return self
                .command(Command::GetModes(room), "MODE", Kind::Plain)
                .await;
        };
        let mut args = p[2..].iter();
        let mut add = true;
        let mut changes = Vec::new();
        for c in modes.chars() {
            let mode = match c {
                '+' => {
                    add = true;
                    continue;
                }
                '-' => {
                    add = false;
                    continue;
                }
                't' => RoomMode::TopicOpsOnly,
                'n' => RoomMode::NoExternal,
                'm' => RoomMode::Moderated,
                'i' => RoomMode::InviteOnly,
                's' => RoomMode::Secret,
                'k' => {
                    let key = args.next().map(|k| (*k).to_owned());
                    if add && key.is_none() {
                        self.num(
                            "696",
                            &[
                                target,
                                "k",
                                "*",
                                "You must specify a parameter for the key mode",
                            ],
                        )
                        .await;
                        continue;
                    }
                    RoomMode::Key(if add { key } else { None })
                }
                'l' => {
                    if add {
                        let Some(n) = args.next() else {
                            self.num(
                                "696",
                                &[
                                    target,
                                    "l",
                                    "*",
                                    "You must specify a parameter for the limit mode",
                                ],
                            )
                            .await;
                            continue;
                        };
                        match n.parse::<usize>() {
                            Ok(n) if n > 0 => RoomMode::Limit(Some(n)),
                            _ => {
                                self.num("696", &[target, "l", n, "Invalid limit"]).await;
                                continue;
                            }
                        }
                    } else {
                        RoomMode::Limit(None)
                    }
                }
                'o' | 'v' => {
                    let Some(n) = args.next() else {
                        continue;
                    };
                    let Ok(nick) = Nick::parse(n, usize::MAX) else {
                        self.num("401", &[n, "No such nick/channel"]).await;
                        continue;
                    };
                    if c == 'o' {
                        RoomMode::Op(nick)
                    } else {
                        RoomMode::Voice(nick)
                    }
                }
                'b' => match args.next() {
                    Some(mask) => RoomMode::Ban((*mask).to_owned()),
                    None => {
                        self.command(Command::Bans(room.clone()), "MODE", Kind::Plain)
                            .await;
                        continue;
                    }
                },
                other => {
                    let c = other.to_string();
                    self.num("472", &[&c, "is unknown mode char to me"]).await;
                    continue;
                }
            };
            changes.push(ModeChange { add, mode });
        }
        if !changes.is_empty() {
            self.command(Command::SetModes { room, changes }, "MODE", Kind::Plain)
                .await;
        }
    }
}
