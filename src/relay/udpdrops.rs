//! UDP datagrams the kernel dropped on a bound socket because its receive buffer was full (while the relay's
//! receivers were paused, or slower than the senders): the `drops` column of `/proc/net/udp` / `/proc/net/udp6`
//! for the socket's local address. Owns: nothing. Never touches: anything but those two files.

use std::net::SocketAddr;

/// Datagrams dropped so far on the UDP socket bound to `addr`; `None` when no such socket is listed.
pub fn kernel_drops(addr: SocketAddr) -> Option<u64> {
    let file = if addr.is_ipv4() { "/proc/net/udp" } else { "/proc/net/udp6" };
    let text = std::fs::read_to_string(file).ok()?;
    parse(&text, addr)
}

/// The `drops` of the line whose local address is `addr` in a `/proc/net/udp{,6}` table.
fn parse(text: &str, addr: SocketAddr) -> Option<u64> {
    let want_port = format!("{:04X}", addr.port());
    let want_ip = match addr {
        SocketAddr::V4(a) => format!("{:08X}", u32::from_le_bytes(a.ip().octets())),
        SocketAddr::V6(a) => {
            a.ip().octets().chunks(4).map(|c| format!("{:08X}", u32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect()
        }
    };
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (ip, port) = f.get(1)?.split_once(':')?;
        (port == want_port && (ip == want_ip || ip.chars().all(|c| c == '0'))).then(|| f.last()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooded_socket_that_is_not_read_shows_kernel_drops() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = rx.local_addr().unwrap();
        assert_eq!(kernel_drops(addr), Some(0));
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let payload = vec![b'x'; 1400];
        // Far more than the default receive buffer (about 200 KiB) holds.
        for _ in 0..4000 {
            let _ = tx.send_to(&payload, addr);
        }
        assert!(kernel_drops(addr).unwrap() > 0);
    }
}
