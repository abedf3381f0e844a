//! Joined signals in a storm: at most one "N more signals joined" update per incident per
//! `joined_interval`. The last update is remembered as a reference (`notify-joined#<incident>` →
//! `{at, count}`; the opened post writes the first one). Inside the interval a joined event is
//! `throttled`; after it, every invocation that read the same last update competes for one
//! run-once key, `notify#<incident>#joined#<that update's time in ms, or "first">`, so exactly
//! one posts. A stored answer carries the update it made, so a lost write of the last update is
//! repaired by the next invocation that finds the key already used.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tracing::warn;

use super::mrkdwn::utc;
use super::render::Render;
use super::{Notify, NotifyAction, NotifyAnswer, NotifyError, Post};
use crate::domain::{LifecycleDetail, LifecycleEvent, SignalState};
use crate::rules::NotifyStep;
use crate::shell::{Invocation, Once, Origin};

/// How long the last joined-signals update is remembered.
const JOINED_MARK_KEEP: Duration = Duration::days(7);
/// The longest throttle interval honoured (the rules allow at most a day).
const JOINED_INTERVAL_MAX_SECS: u64 = 7 * 86_400;

/// How many signals joined since the last update.
#[derive(Debug, Clone, Copy)]
pub(super) struct Joined {
    pub(super) more: Option<u64>,
    pub(super) total: Option<u64>,
    /// The last update (or the opened post), if one is remembered.
    pub(super) since: Option<DateTime<Utc>>,
}

impl Notify {
    pub(super) async fn joined(
        &self,
        lifecycle: &LifecycleEvent,
        origin: &Origin,
        cx: &Invocation<'_>,
    ) -> Result<NotifyAnswer, NotifyError> {
        let detail = &lifecycle.detail;
        let step = NotifyStep::Joined;
        let mark_key = joined_mark_key(&detail.incident.id);
        let now = cx.now();
        let last = self.last_mark(&mark_key, now).await?;
        let interval = joined_interval(self.policy.joined_interval_secs);
        if let Some(last) = &last {
            if now - last.at < interval {
                return Ok(NotifyAnswer::new(
                    NotifyAction::Throttled,
                    detail,
                    step,
                    format!(
                        "The thread was last updated at {}; the next joined-signals update comes \
                         no sooner than {} ({} signals so far).",
                        utc(last.at),
                        utc(last.at + interval),
                        count_text(detail.signal_count)
                    ),
                ));
            }
        }
        let baseline = last.as_ref().map(|m| m.count).unwrap_or(1);
        let more = detail.signal_count.map(|t| t.saturating_sub(baseline));
        if more == Some(0) && detail.signal.state != SignalState::Informational {
            return Ok(NotifyAnswer::new(
                NotifyAction::Ignored,
                detail,
                step,
                format!(
                    "No signal joined since the last update ({} signals); nothing to post.",
                    baseline
                ),
            ));
        }
        let key = format!(
            "notify#{}#joined#{}",
            detail.incident.id,
            last.as_ref()
                .map(|m| m.at.timestamp_millis().to_string())
                .unwrap_or_else(|| "first".to_string())
        );
        let joined = Joined {
            more,
            total: detail.signal_count,
            since: last.as_ref().map(|m| m.at),
        };
        let render = Render {
            post: Post::Joined,
            kind: lifecycle.kind,
            detail,
            origin,
            key: &key,
            joined: Some(joined),
            mentions: &[],
            buttons: self.buttons.as_deref(),
        };
        let ran = cx
            .run_once(&key, |_| async {
                let message_id = self.publish(&render).await?;
                let mark = JoinedMark {
                    at: now,
                    count: detail.signal_count.unwrap_or(baseline).max(baseline),
                };
                self.remember_mark(&mark_key, &mark, cx).await;
                let answer = NotifyAnswer {
                    message_id: Some(message_id),
                    ..NotifyAnswer::new(
                        NotifyAction::Posted,
                        detail,
                        step,
                        format!(
                            "Posted the joined-signals update ({} more, {} in total) to the \
                             incident's thread.",
                            more.map(|n| n.to_string())
                                .unwrap_or_else(|| "some".to_string()),
                            count_text(detail.signal_count)
                        ),
                    )
                };
                Ok::<_, NotifyError>(JoinedPost { answer, mark })
            })
            .await?;
        match ran {
            Once::Done(post) => Ok(post.answer),
            Once::Replayed(posted) => {
                if let Some(posted) = &posted {
                    self.repair_mark(&mark_key, &posted.mark, cx).await;
                }
                Ok(NotifyAnswer {
                    message_id: posted.and_then(|p| p.answer.message_id),
                    ..NotifyAnswer::new(
                        NotifyAction::Throttled,
                        detail,
                        step,
                        "Another invocation already posted the joined-signals update for this \
                         interval.",
                    )
                })
            }
            Once::Busy => Ok(NotifyAnswer::new(
                NotifyAction::Throttled,
                detail,
                step,
                "Another invocation is posting the joined-signals update for this interval.",
            )),
        }
    }

    async fn last_mark(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<JoinedMark>, NotifyError> {
        let Some(stored) = self.references.recall(key, now).await? else {
            return Ok(None);
        };
        match serde_json::from_str(&stored) {
            Ok(mark) => Ok(Some(mark)),
            Err(e) => {
                warn!(key, error = %e, "unreadable joined-signals mark; treating it as absent");
                Ok(None)
            }
        }
    }

    /// Remembers the last joined-signals update. A failure is only logged: the post is out, and
    /// failing now would make Lambda's retry post it again. The next invocation repairs it.
    async fn remember_mark(&self, key: &str, mark: &JoinedMark, cx: &Invocation<'_>) {
        let value = serde_json::to_string(mark).unwrap_or_default();
        let expires = cx.now() + JOINED_MARK_KEEP;
        if let Err(e) = self.references.remember(key, &value, expires).await {
            warn!(key, error = %e, "could not remember the joined-signals update");
        }
    }

    /// After a lost [`Notify::remember_mark`]: the stored answer of the competed-for key holds
    /// the update that was made; remember it unless a later one is remembered already.
    async fn repair_mark(&self, key: &str, posted: &JoinedMark, cx: &Invocation<'_>) {
        match self.last_mark(key, cx.now()).await {
            Ok(Some(current)) if current.at >= posted.at => {}
            Ok(_) => self.remember_mark(key, posted, cx).await,
            Err(e) => warn!(key, error = %e, "could not read the joined-signals mark"),
        }
    }

    /// The opened post starts the joined-signals count (unless an update is remembered already,
    /// when events arrive out of order).
    pub(super) async fn mark_opened(&self, detail: &LifecycleDetail, cx: &Invocation<'_>) {
        let key = joined_mark_key(&detail.incident.id);
        let now = cx.now();
        match self.references.recall(&key, now).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let mark = JoinedMark {
                    at: now,
                    count: detail.signal_count.unwrap_or(1),
                };
                self.remember_mark(&key, &mark, cx).await;
            }
            Err(e) => warn!(key, error = %e, "could not read the joined-signals mark"),
        }
    }
}

/// The last joined-signals update of an incident (or its opened post).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct JoinedMark {
    at: DateTime<Utc>,
    /// The incident's signal count the update reported.
    count: u64,
}

/// What a joined-signals key stores: the answer, and the update it made.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JoinedPost {
    answer: NotifyAnswer,
    mark: JoinedMark,
}

fn joined_mark_key(incident: &str) -> String {
    format!("notify-joined#{incident}")
}

fn joined_interval(secs: u64) -> Duration {
    let secs = i64::try_from(secs.min(JOINED_INTERVAL_MAX_SECS)).unwrap_or(0);
    Duration::try_seconds(secs).unwrap_or_else(|| Duration::days(1))
}

fn count_text(count: Option<u64>) -> String {
    count
        .map(|n| n.to_string())
        .unwrap_or_else(|| "unknown".to_string())
}
