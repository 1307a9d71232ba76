//! Where a running evaluation reports how far it has got: the trainer
//! publishes the latest [`ProgressNote`] to the queue
//! ([`queue::Queue::progress`]) for `nas status`.

use queue::wire::ProgressNote;

/// The sink of a running evaluation's progress notes. Only the latest note
/// matters, so reporting never blocks and never queues up. Clones share the
/// channel; the default sink drops every note.
#[derive(Debug, Clone, Default)]
pub struct ProgressSink(Option<tokio::sync::watch::Sender<Option<String>>>);

impl ProgressSink {
    /// A sink and the receiver of its latest note, encoded.
    pub fn channel() -> (Self, tokio::sync::watch::Receiver<Option<String>>) {
        let (tx, rx) = tokio::sync::watch::channel(None);
        (Self(Some(tx)), rx)
    }

    /// Replace the latest note. A note over the size limit is dropped with
    /// a warning (the previous one stays).
    pub fn report(&self, note: &ProgressNote) {
        let Some(tx) = &self.0 else { return };
        match note.encode() {
            Ok(text) => {
                tx.send_replace(Some(text));
            }
            Err(e) => tracing::warn!(error = %e, "progress note dropped"),
        }
    }
}
