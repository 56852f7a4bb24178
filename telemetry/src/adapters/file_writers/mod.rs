//! What the two file adapters' writers (`stdio` access logs, `parquet` archives) share: the
//! channel into a writer thread ([`Inbox`]: items, requests answered in order, close), the
//! byte-bounded, drop-newest queue level their producers add to ([`QueueLevel`]), and the
//! process's registry of writers by destination ([`WriterRegistry`]), which a reloaded config
//! finds its running writer in and which closes and joins them all at shutdown. What each
//! writer does with its queue (lines, Arrow batches) stays in its adapter's `writer.rs`.

mod inbox;
mod queue;
mod registry;

pub(crate) use inbox::Inbox;
pub(crate) use queue::QueueLevel;
pub(crate) use registry::{FileWriter, WriterRegistry, WriterStats};
