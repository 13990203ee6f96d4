//! An ingest worker's AMQP connection, opened on a socket warren wraps so that amiquip's I/O thread lingers
//! after a light read, as the workers and the writer do (docs/ARCHITECTURE.md "Lingering").
//!
//! amiquip's I/O thread waits in `epoll` and, once woken, reads the socket until a read would block, handing
//! each delivery to its consumer as soon as the delivery's frames are in. At the broker's limit with one point
//! per delivery it woke about once every ten deliveries (rk-1: 40,000 wake-ups for 400,000 deliveries), and
//! each wake-up is a context switch on a box the broker shares. [`LingeringStream`] is the socket amiquip
//! reads: when a read finds nothing more and the bytes read since the last such read were few, it sleeps once
//! and reads again, so the next wake-up finds a pause's worth of deliveries at once. Only once `armed`: the
//! handshake and the set-up calls before consuming wait for each reply, and must not pause after each.
//!
//! Everything read before the pause was handed on (the frames are processed between reads), so a lone
//! delivery is not held back; acks and heartbeats the I/O thread has to send wait at most the pause.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use amiquip::{Auth, Connection, ConnectionOptions, ConnectionTuning};
use mio06::{Evented, Poll, PollOpt, Ready, Token};

use crate::stats::Stats;

/// Fewer bytes than this read since the socket last ran dry make a light burst: the reader pauses after it.
/// rk-1's deliveries are ~150 bytes, so a 2 ms pause at 60,000 deliveries a second reads ~18 KB; a heavy
/// stream (100-point messages at the broker's limit) reads more than this per wake-up and never pauses.
pub const LIGHT_READ_BYTES: usize = 64 * 1024;

/// Whether the reader pauses when the socket runs dry after `burst` bytes: lingering is on, the burst read
/// something (a wake-up for nothing does not pause) and it was light.
pub fn lingers_after_read(linger: Duration, burst: usize) -> bool {
    !linger.is_zero() && burst > 0 && burst < LIGHT_READ_BYTES
}

/// The TCP socket of one connection, lingering once per burst (see the module's doc).
pub struct LingeringStream {
    inner: mio06::net::TcpStream,
    linger: Duration,
    armed: Arc<AtomicBool>,
    stats: Arc<Stats>,
    /// Bytes read since a read last found nothing.
    burst: usize,
    /// This burst paused already.
    paused: bool,
}

impl Read for LingeringStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.burst += n;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !self.paused && self.armed.load(Ordering::Relaxed) && lingers_after_read(self.linger, self.burst) {
                    self.paused = true;
                    Stats::add(&self.stats.reader_lingers, 1);
                    std::thread::sleep(self.linger);
                    // Once more: what arrived meanwhile is taken now; a second dry read ends the burst.
                    return self.read(buf);
                }
                self.burst = 0;
                self.paused = false;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

impl Write for LingeringStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Evented for LingeringStream {
    fn register(&self, poll: &Poll, token: Token, interest: Ready, opts: PollOpt) -> io::Result<()> {
        self.inner.register(poll, token, interest, opts)
    }

    fn reregister(&self, poll: &Poll, token: Token, interest: Ready, opts: PollOpt) -> io::Result<()> {
        self.inner.reregister(poll, token, interest, opts)
    }

    fn deregister(&self, poll: &Poll) -> io::Result<()> {
        self.inner.deregister(poll)
    }
}

impl amiquip::IoStream for LingeringStream {}

/// A connection to `url` and the switch that starts its reader's lingering (set it once consuming).
/// With `linger` zero, or a URL this module does not read the way amiquip does (not `amqp://`, or an option
/// it does not know), amiquip opens the URL itself: no lingering, and amiquip's own error for a bad URL.
pub fn open(url: &str, linger: Duration, stats: &Arc<Stats>) -> amiquip::Result<(Connection, Arc<AtomicBool>)> {
    let armed = Arc::new(AtomicBool::new(false));
    let target = if linger.is_zero() { None } else { amqp_target(url) };
    let Some((addrs, options)) = target else {
        return Ok((Connection::insecure_open(url)?, armed));
    };
    // As amiquip: each address in turn, the last failure reported.
    let mut last = None;
    for addr in addrs {
        let Ok(stream) = mio06::net::TcpStream::connect(&addr) else { continue };
        let stream = LingeringStream {
            inner: stream,
            linger,
            armed: armed.clone(),
            stats: stats.clone(),
            burst: 0,
            paused: false,
        };
        match Connection::insecure_open_stream(stream, options.clone(), ConnectionTuning::default()) {
            Ok(conn) => return Ok((conn, armed)),
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(e),
        // No address took a socket: amiquip's own attempt reports it as it always did.
        None => Ok((Connection::insecure_open(url)?, armed)),
    }
}

/// The socket addresses and connection options of an `amqp://` URL, read as amiquip reads one (host
/// `localhost` and port 5672 by default; vhost from the one path segment; user and password, each `guest`
/// when absent; query options `heartbeat`, `channel_max`, `connection_timeout` in ms, `auth_mechanism=external`).
/// `None` for anything else, which is left to amiquip.
fn amqp_target(raw: &str) -> Option<(Vec<std::net::SocketAddr>, ConnectionOptions<Auth>)> {
    let mut url = url::Url::parse(raw).ok()?;
    if url.scheme() != "amqp" {
        return None;
    }
    let options = amqp_options(&url)?;
    if url.host_str().is_none_or(str::is_empty) {
        url.set_host(Some("localhost")).ok()?;
    }
    let addrs = url.socket_addrs(|| Some(5672)).ok()?;
    (!addrs.is_empty()).then_some((addrs, options))
}

/// The options part of [`amqp_target`].
fn amqp_options(url: &url::Url) -> Option<ConnectionOptions<Auth>> {
    let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
    let mut options = ConnectionOptions::default();
    if let Some(mut segments) = url.path_segments() {
        let vhost = segments.next().unwrap_or("");
        if !vhost.is_empty() {
            options = options.virtual_host(decode(vhost));
        }
        if segments.next().is_some() {
            return None;
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        let username = match url.username() {
            "" => "guest",
            u => u,
        };
        options = options
            .auth(Auth::Plain { username: decode(username), password: decode(url.password().unwrap_or("guest")) });
    }
    for (k, v) in url.query_pairs() {
        options = match k.as_ref() {
            "heartbeat" => options.heartbeat(v.parse().ok()?),
            "channel_max" => options.channel_max(v.parse().ok()?),
            "connection_timeout" => options.connection_timeout(Some(Duration::from_millis(v.parse().ok()?))),
            "auth_mechanism" if v == "external" => options.auth(Auth::External),
            _ => return None,
        };
    }
    Some(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> Option<ConnectionOptions<Auth>> {
        amqp_options(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn the_reader_lingers_only_after_a_light_burst_that_read_something() {
        let ms = Duration::from_millis(2);
        assert!(lingers_after_read(ms, 1));
        assert!(lingers_after_read(ms, LIGHT_READ_BYTES - 1));
        assert!(!lingers_after_read(ms, LIGHT_READ_BYTES));
        assert!(!lingers_after_read(ms, 0));
        assert!(!lingers_after_read(Duration::ZERO, 1));
    }

    #[test]
    fn urls_read_as_amiquip_reads_them() {
        let plain = |u: &str, p: &str| Auth::Plain { username: u.into(), password: p.into() };
        assert_eq!(options("amqp://127.0.0.1:5672").unwrap(), ConnectionOptions::default());
        assert_eq!(options("amqp://h/").unwrap(), ConnectionOptions::default());
        assert_eq!(
            options("amqp://u%40x:p%2Fw@h:1/v%2Fh?heartbeat=30&channel_max=7&connection_timeout=1500").unwrap(),
            ConnectionOptions::default()
                .virtual_host("v/h")
                .auth(plain("u@x", "p/w"))
                .heartbeat(30)
                .channel_max(7)
                .connection_timeout(Some(Duration::from_millis(1500)))
        );
        let with = |auth| ConnectionOptions::default().auth(auth);
        assert_eq!(options("amqp://u@h").unwrap(), with(plain("u", "guest")));
        assert_eq!(options("amqp://:pw@h").unwrap(), with(plain("guest", "pw")));
        assert_eq!(options("amqp://h?auth_mechanism=external").unwrap(), with(Auth::External));
        // What amiquip refuses is left to amiquip (its error names the problem).
        for bad in ["amqp://h/a/b", "amqp://h?frame_max=1", "amqp://h?heartbeat=x", "amqp://h?auth_mechanism=x"] {
            assert_eq!(options(bad), None, "{bad}");
        }
        assert!(amqp_target("amqps://h").is_none());
        let (addrs, _) = amqp_target("amqp://127.0.0.1").unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:5672".parse().unwrap()]);
        let (addrs, _) = amqp_target("amqp://[::1]:5673/x").unwrap();
        assert_eq!(addrs, vec!["[::1]:5673".parse().unwrap()]);
        let (addrs, _) = amqp_target("amqp://").unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 5672), "amqp:// is localhost: {addrs:?}");
    }
}
