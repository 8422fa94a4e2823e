//! CHATHISTORY (IRCv3 draft) and MARKREAD (read markers).

use super::*;

impl Conn {
    pub(super) async fn chathistory(&mut self, p: &[&str]) {
        let fail = |code: &str, why: &str, sub: &str| {
            Irc::new("FAIL")
                .with_param("CHATHISTORY")
                .with_param(code.to_owned())
                .with_param(sub.to_owned())
                .with_param(why.to_owned())
        };
        let Some(sub) = p.first().map(|s| safe(&s.to_ascii_uppercase())) else {
            let m = fail("NEED_MORE_PARAMS", "Missing parameters", "*");
            return self
                .fail(m.with_source(self.config.irc.server_name.clone()))
                .await;
        };
        let known = ["LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN", "TARGETS"];
        if !known.contains(&sub.as_str()) {
            let m = fail("UNKNOWN_COMMAND", "Unknown subcommand", &sub);
            return self.fail(m).await;
        }
        let wanted = if sub == "BETWEEN" { 5 } else { 4 };
        if p.len() < wanted {
            let m = fail("NEED_MORE_PARAMS", "Missing parameters", &sub);
            return self.fail(m).await;
        }
        let bad = |why: &str| fail("INVALID_PARAMS", why, &sub);
        let limit = |s: Option<&&str>| {
            s.and_then(|l| l.parse::<usize>().ok())
                .map(|l| l.min(CHATHISTORY_MAX))
        };
        if sub == "TARGETS" {
            let (Some(Some(Some(a))), Some(Some(Some(b))), Some(n)) = (
                p.get(1).map(|s| bound(s)),
                p.get(2).map(|s| bound(s)),
                limit(p.get(3)),
            ) else {
                return self.fail(bad("Bad TARGETS parameters")).await;
            };
            let (Some(a), Some(b)) = (bound_time(Some(a)), bound_time(Some(b))) else {
                return self.fail(bad("TARGETS takes timestamps")).await;
            };
            // Both bounds are exclusive, as for BETWEEN: a target whose
            // latest message is at a bound is outside (irctest's
            // testChathistoryTargets pages this way).
            let (after, before) = if a <= b { (a, b) } else { (b, a) };
            let cmd = Command::Conversations {
                after,
                before,
                limit: n,
            };
            return self.command(cmd, "CHATHISTORY", Kind::Targets).await;
        }
        let Some(name) = p.get(1) else {
            return self.fail(bad("Missing target")).await;
        };
        let target = if is_channel(name) {
            self.room(name).map(Target::Room)
        } else {
            Nick::parse(name, usize::MAX).ok().map(Target::User)
        };
        let Some(target) = target else {
            return self
                .fail(fail("INVALID_TARGET", "Invalid target", &sub))
                .await;
        };
        let window = match sub.as_str() {
            "LATEST" | "BEFORE" | "AFTER" | "AROUND" => {
                let (Some(Some(b)), Some(n)) = (p.get(2).map(|s| bound(s)), limit(p.get(3))) else {
                    return self.fail(bad("Bad message reference or limit")).await;
                };
                match (sub.as_str(), b) {
                    ("LATEST", b) => Window::Query(HistoryQuery {
                        after: b,
                        before: None,
                        limit: n,
                        latest: true,
                    }),
                    ("BEFORE", Some(b)) => Window::Query(HistoryQuery {
                        after: None,
                        before: Some(b),
                        limit: n,
                        latest: true,
                    }),
                    ("AFTER", Some(b)) => Window::Query(HistoryQuery {
                        after: Some(b),
                        before: None,
                        limit: n,
                        latest: false,
                    }),
                    ("AROUND", Some(b)) => Window::Around { at: b, limit: n },
                    _ => return self.fail(bad("A message reference is needed")).await,
                }
            }
            "BETWEEN" => {
                let (Some(Some(Some(a))), Some(Some(Some(b))), Some(n)) = (
                    p.get(2).map(|s| bound(s)),
                    p.get(3).map(|s| bound(s)),
                    limit(p.get(4)),
                ) else {
                    return self.fail(bad("Bad BETWEEN parameters")).await;
                };
                // From the first reference towards the second.
                let forward = match (a, b) {
                    (Bound::Id(x), Bound::Id(y)) => x <= y,
                    (Bound::Time(x), Bound::Time(y)) => x <= y,
                    _ => true,
                };
                if forward {
                    Window::Query(HistoryQuery {
                        after: Some(a),
                        before: Some(b),
                        limit: n,
                        latest: false,
                    })
                } else {
                    Window::Query(HistoryQuery {
                        after: Some(b),
                        before: Some(a),
                        limit: n,
                        latest: true,
                    })
                }
            }
            _ => {
                let m = fail("INVALID_PARAMS", "Unknown subcommand", &sub);
                return self.fail(m).await;
            }
        };
        let kind = Kind::History(sub.clone(), (*name).to_owned());
        self.command(Command::ChatHistory { target, window }, "CHATHISTORY", kind)
            .await;
    }

    // MARKREAD <target> [timestamp=YYYY-MM-DDThh:mm:ss.sssZ]
    // (IRCv3 draft/read-marker): sets the read marker by time, or asks.
    pub(super) async fn markread(&mut self, p: &[&str]) {
        let fail = |code: &str, param: &str, why: &str| {
            self.view()
                .server_msg("FAIL")
                .with_param("MARKREAD")
                .with_param(code.to_owned())
                .with_param(safe(param))
                .with_param(why.to_owned())
        };
        let Some(name) = p.first().copied().filter(|n| !n.is_empty()) else {
            let m = self
                .view()
                .server_msg("FAIL")
                .with_param("MARKREAD")
                .with_param("NEED_MORE_PARAMS")
                .with_param("Missing parameters");
            return self.fail(m).await;
        };
        let target = if is_channel(name) {
            self.room(name).map(Target::Room)
        } else {
            Nick::parse(name, self.config.limits.max_nick_len)
                .ok()
                .map(Target::User)
        };
        let Some(target) = target else {
            let m = fail("INVALID_PARAMS", name, "Invalid target");
            return self.fail(m).await;
        };
        let cmd = match p.get(1) {
            None => Command::GetReadMarker(target),
            // A client sets a time, never `*`.
            Some(stamp) => match bound(stamp) {
                Some(Some(at @ Bound::Time(_))) => Command::MarkRead { target, at },
                _ => {
                    let m = fail("INVALID_PARAMS", stamp, "Invalid timestamp");
                    return self.fail(m).await;
                }
            },
        };
        self.command(cmd, "MARKREAD", Kind::MarkRead(name.to_owned()))
            .await;
    }
}
