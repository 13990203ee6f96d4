//! Connection floods and slow clients on the plaintext (2003) and pickle (2004) receivers: one event-loop thread
//! whatever the number of clients, connections over `max_connections` refused and counted exactly, idle and
//! trickling clients (a partial line, a pickle header promising 1 MiB) hold nothing but their slot, and a client
//! that behaves is still served throughout. (CarbonLink and the HTTP API: `tests/query_floods.rs`, a binary of its
//! own because this test counts every thread of the process.)

mod common;

use common::receivers::{receiver_config, Harness};
use common::{closed_by_server, connect};

use std::io::Write;
use std::net::TcpStream;
use warren::ingest::socket::ReceiverConfig;

const MAX_CONNECTIONS: usize = 64;
const FLOOD: usize = 300;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_connection_flood_and_slow_clients_leave_the_others_served_on_one_thread() {
    let mut h =
        Harness::start(ReceiverConfig { line_udp: None, max_connections: MAX_CONNECTIONS, ..receiver_config() });
    let (line, pickle) = (h.addrs.line_tcp.unwrap(), h.addrs.pickle.unwrap());

    let mut good = connect(line);
    let served = |good: &mut TcpStream, h: &mut Harness, i: usize| {
        good.write_all(format!("flood.good {i} 1700000000\n").as_bytes()).unwrap();
        let want = i + 1;
        common::wait_until(10, || {
            h.drain();
            h.count("flood.good") == want
        })
    };
    assert!(served(&mut good, &mut h, 0), "the good client before the flood");
    let threads_before = threads();

    // Slow clients fill the other slots: half a line on 2003, a pickle header promising 1 MiB then 3 bytes on 2004.
    let mut slow = Vec::new();
    for i in 0..MAX_CONNECTIONS - 1 {
        let mut c = if i % 2 == 0 { connect(line) } else { connect(pickle) };
        if i % 2 == 0 {
            c.write_all(b"flood.slow 1 17").unwrap();
        } else {
            c.write_all(&[0, 0x10, 0, 0, 0x80, 0x02, b']']).unwrap();
        }
        slow.push(c);
    }
    assert!(common::wait_until(10, || h.stat(|s| &s.active_connections) == MAX_CONNECTIONS as u64));
    // The flood: every further connection is refused and counted, on both ports.
    let mut refused = 0;
    for i in 0..FLOOD {
        let mut c = if i % 2 == 0 { connect(line) } else { connect(pickle) };
        refused += usize::from(closed_by_server(&mut c));
    }
    assert_eq!(refused, FLOOD, "every connection over the limit is closed");
    assert!(common::wait_until(10, || h.stat(|s| &s.connections_refused) == FLOOD as u64));
    assert_eq!(h.stat(|s| &s.active_connections), MAX_CONNECTIONS as u64);
    assert_eq!(threads(), threads_before, "no thread per client");
    assert!(served(&mut good, &mut h, 1), "the good client during the flood");

    // The slow clients finish their input: their points arrive, nothing of theirs was lost or blocked anyone.
    for (i, c) in slow.iter_mut().enumerate() {
        if i % 2 == 0 {
            c.write_all(b"00000000\n").unwrap();
        }
    }
    assert!(common::wait_until(10, || {
        h.drain();
        h.count("flood.slow") == MAX_CONNECTIONS / 2
    }));
    // Closing them frees their slots: a new client is served again.
    drop(slow);
    assert!(common::wait_until(10, || h.stat(|s| &s.active_connections) == 1));
    let mut late = connect(pickle);
    // A pickle frame made by Python's own pickle module.
    let script = "import pickle, struct, sys\n\
                  p = pickle.dumps([('flood.late', (1700000000, 1))], protocol=2)\n\
                  sys.stdout.buffer.write(struct.pack('!L', len(p)) + p)";
    let out = std::process::Command::new("/usr/bin/python3").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success());
    late.write_all(&out.stdout).unwrap();
    assert!(common::wait_until(10, || {
        h.drain();
        h.count("flood.late") > 0
    }));
    assert_eq!(h.stat(|s| &s.connections_refused), FLOOD as u64, "nothing refused once slots were free");
    h.stop();
}
