//! The few Redis commands redisquota sends (PING, SCRIPT LOAD, EVALSHA) over RESP2, through a
//! bounded pool: at most `size` connections in use, idle ones kept for reuse, a connection
//! dropped after any error or timeout (it may hold half a reply). Each call has one deadline
//! covering the wait for a connection, connecting and the round trip; callers waiting for a
//! connection are themselves bounded by the service's in-flight limit.
//!
//! Scripts run by EVALSHA; a `NOSCRIPT` answer (first use, Redis restarted or flushed) loads
//! the script with SCRIPT LOAD and runs it again, on the same connection.

use super::resp::{self, Reply};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Largest reply accepted (quota scripts answer a few integers).
const MAX_REPLY: usize = 64 * 1024;

/// Why a call got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no answer from redis at {addr} within {after:?}")]
    Timeout { addr: String, after: Duration },
    #[error("redis at {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("redis at {addr} answered with an error: {message}")]
    Reply { addr: String, message: String },
    #[error("redis at {addr}: unexpected answer: {message}")]
    Protocol { addr: String, message: String },
}

/// A Lua script, run by its SHA1 once Redis knows it.
#[derive(Debug)]
pub struct Script {
    pub source: &'static str,
    sha: OnceLock<String>,
}

impl Script {
    pub const fn new(source: &'static str) -> Script {
        Script {
            source,
            sha: OnceLock::new(),
        }
    }

    /// The SHA1 Redis gave it, once loaded.
    pub fn sha(&self) -> Option<&str> {
        self.sha.get().map(String::as_str)
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.stream.peer_addr().ok())
            .finish()
    }
}

/// One thing to do with a connection.
enum Op<'a> {
    Command(&'a [&'a str]),
    Eval(&'a Script, &'a [&'a str], &'a [&'a str]),
}

/// What went wrong inside a call, before the address is attached.
enum Fault {
    Io(std::io::Error),
    Protocol(String),
}

impl Conn {
    async fn connect(addr: &str) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(512),
        })
    }

    /// Sends one command and reads its reply (an error reply is a reply: the connection stays
    /// usable).
    async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, Fault> {
        let mut out = Vec::with_capacity(64 + args.iter().map(|a| a.len()).sum::<usize>());
        resp::encode(args, &mut out);
        self.stream.write_all(&out).await.map_err(Fault::Io)?;
        self.buf.clear();
        loop {
            match resp::parse(&self.buf) {
                Ok(Some((reply, used))) if used == self.buf.len() => return Ok(reply),
                Ok(Some(_)) => return Err(Fault::Protocol("more than one reply".into())),
                Ok(None) if self.buf.len() >= MAX_REPLY => {
                    return Err(Fault::Protocol(format!("reply over {MAX_REPLY} bytes")))
                }
                Ok(None) => {}
                Err(e) => return Err(Fault::Protocol(e.to_string())),
            }
            let n = self
                .stream
                .read_buf(&mut self.buf)
                .await
                .map_err(Fault::Io)?;
            if n == 0 {
                return Err(Fault::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// EVALSHA, loading the script on NOSCRIPT.
    async fn eval(
        &mut self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<Reply, Fault> {
        let numkeys = keys.len().to_string();
        if let Some(sha) = script.sha.get() {
            let reply = self.evalsha(sha, &numkeys, keys, args).await?;
            match &reply {
                Reply::Error(e) if e.starts_with("NOSCRIPT") => {}
                _ => return Ok(reply),
            }
        }
        let sha = match self
            .call(&[b"SCRIPT", b"LOAD", script.source.as_bytes()])
            .await?
        {
            Reply::Bulk(Some(sha)) => String::from_utf8(sha)
                .map_err(|_| Fault::Protocol("SCRIPT LOAD: sha is not text".into()))?,
            Reply::Error(e) => return Ok(Reply::Error(e)),
            other => return Err(Fault::Protocol(format!("SCRIPT LOAD answered {other:?}"))),
        };
        let sha = script.sha.get_or_init(|| sha);
        self.evalsha(sha, &numkeys, keys, args).await
    }

    async fn evalsha(
        &mut self,
        sha: &str,
        numkeys: &str,
        keys: &[&str],
        args: &[&str],
    ) -> Result<Reply, Fault> {
        let mut cmd: Vec<&[u8]> = Vec::with_capacity(3 + keys.len() + args.len());
        cmd.extend([b"EVALSHA".as_slice(), sha.as_bytes(), numkeys.as_bytes()]);
        cmd.extend(keys.iter().map(|k| k.as_bytes()));
        cmd.extend(args.iter().map(|a| a.as_bytes()));
        self.call(&cmd).await
    }
}

/// A bounded pool of connections to one Redis server.
#[derive(Debug)]
pub struct Pool {
    addr: String,
    timeout: Duration,
    slots: Semaphore,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    /// Connects lazily: building a handler never waits for Redis.
    pub fn new(addr: &str, size: usize, timeout: Duration) -> Pool {
        Pool {
            addr: addr.to_owned(),
            timeout,
            slots: Semaphore::new(size.max(1)),
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Runs `script` with `keys` and `args`; an error reply is [`Error::Reply`].
    pub async fn eval(
        &self,
        script: &Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<Reply, Error> {
        self.with_conn(Op::Eval(script, keys, args)).await
    }

    /// Any other command (tests, readiness); an error reply is [`Error::Reply`].
    pub async fn command(&self, args: &[&str]) -> Result<Reply, Error> {
        self.with_conn(Op::Command(args)).await
    }

    /// PING (readiness).
    pub async fn ping(&self) -> Result<(), Error> {
        match self.command(&["PING"]).await? {
            Reply::Simple(s) if s == "PONG" => Ok(()),
            other => Err(self.protocol(format!("PING answered {other:?}"))),
        }
    }

    async fn with_conn(&self, op: Op<'_>) -> Result<Reply, Error> {
        let work = async {
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|_| Fault::Protocol("pool closed".into()))?;
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            let mut conn = match idle {
                Some(c) => c,
                None => Conn::connect(&self.addr).await.map_err(Fault::Io)?,
            };
            let reply = match op {
                Op::Command(args) => {
                    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
                    conn.call(&args).await?
                }
                Op::Eval(script, keys, args) => conn.eval(script, keys, args).await?,
            };
            // only a connection that answered in full goes back (an error reply included)
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            Ok(reply)
        };
        let reply = match tokio::time::timeout(self.timeout, work).await {
            Err(_) => {
                return Err(Error::Timeout {
                    addr: self.addr.clone(),
                    after: self.timeout,
                })
            }
            Ok(Err(Fault::Io(source))) => {
                return Err(Error::Io {
                    addr: self.addr.clone(),
                    source,
                })
            }
            Ok(Err(Fault::Protocol(m))) => return Err(self.protocol(m)),
            Ok(Ok(r)) => r,
        };
        match reply {
            Reply::Error(message) => Err(Error::Reply {
                addr: self.addr.clone(),
                message,
            }),
            r => Ok(r),
        }
    }

    fn protocol(&self, message: String) -> Error {
        Error::Protocol {
            addr: self.addr.clone(),
            message,
        }
    }

    /// Connections kept for reuse now (tests).
    pub fn idle(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
