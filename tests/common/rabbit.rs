//! A private, single-node RabbitMQ started by a test: its own node name, AMQP and distribution ports, data and
//! log directories (Debian's `rabbitmq-server`, configured through its own `RABBITMQ_CONF_ENV_FILE`, since the
//! system env file pins `rabbit@localhost`). Tests that restart, kill or block a broker use this, never the
//! shared broker on 5672. Stopped (and its directory removed) on drop.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub struct PrivateRabbit {
    base: tempfile::TempDir,
    /// The Erlang node name, `rq<port>@localhost`.
    pub node: String,
    /// The AMQP port on 127.0.0.1.
    pub port: u16,
    env: PathBuf,
}

/// A port free on 127.0.0.1 whose +20000 companion (the distribution port) is free too.
fn free_port_pair() -> u16 {
    for _ in 0..200 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        if p < 45000 && TcpListener::bind(("127.0.0.1", p + 20000)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair for a private RabbitMQ node");
}

impl PrivateRabbit {
    /// Start a fresh node and wait until it accepts AMQP logins (guest/guest from loopback).
    pub fn start() -> PrivateRabbit {
        let base = tempfile::tempdir().unwrap();
        let port = free_port_pair();
        let node = format!("rq{port}@localhost");
        let b = base.path();
        for d in ["mnesia", "log"] {
            std::fs::create_dir_all(b.join(d)).unwrap();
        }
        std::fs::write(b.join("rabbitmq.conf"), format!("listeners.tcp.default = 127.0.0.1:{port}\n")).unwrap();
        std::fs::write(b.join("enabled_plugins"), "[].\n").unwrap();
        let env = b.join("env.conf");
        std::fs::write(
            &env,
            format!(
                "NODENAME={node}\nNODE_IP_ADDRESS=127.0.0.1\nNODE_PORT={port}\nDIST_PORT={dist}\n\
                 CONFIG_FILE={b}/rabbitmq\nMNESIA_BASE={b}/mnesia\nLOG_BASE={b}/log\nPID_FILE={b}/pid\n\
                 ENABLED_PLUGINS_FILE={b}/enabled_plugins\nERL_EPMD_ADDRESS=127.0.0.1\n",
                dist = port + 20000,
                b = b.display()
            ),
        )
        .unwrap();
        let st = Command::new("chown").args(["-R", "rabbitmq:rabbitmq"]).arg(b).status().unwrap();
        assert!(st.success(), "chown the private node's directory to rabbitmq");
        // The parent (a 0700 temp dir) must let the rabbitmq user through.
        let _ = Command::new("chmod").arg("755").arg(b).status();
        let r = PrivateRabbit { base, node, port, env };
        r.boot();
        r
    }

    fn boot(&self) {
        let st = Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_CONF_ENV_FILE", &self.env)
            .status()
            .expect("rabbitmq-server runs (apt-get install rabbitmq-server)");
        assert!(st.success(), "rabbitmq-server -detached for {}", self.node);
        let end = Instant::now() + Duration::from_secs(120);
        loop {
            let ok = Command::new("rabbitmqctl")
                .args(["-n", &self.node, "-q", "await_startup", "--timeout", "10"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok && amiquip::Connection::insecure_open(&self.url()).map(|c| c.close()).is_ok() {
                return;
            }
            assert!(
                Instant::now() < end,
                "private RabbitMQ {} did not start: see {}/log",
                self.node,
                self.dir().display()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The node's directory (data, logs).
    pub fn dir(&self) -> PathBuf {
        self.base.path().to_path_buf()
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// `rabbitmqctl -n <node> args…`: stdout; panics on failure.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new("rabbitmqctl").arg("-n").arg(&self.node).args(args).output().expect("rabbitmqctl runs");
        assert!(
            out.status.success(),
            "rabbitmqctl -n {} {args:?}: {}",
            self.node,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// (ready, unacked) messages of `queue` on this node.
    pub fn queue_counts(&self, queue: &str) -> Option<(u64, u64)> {
        let out = self.ctl(&["-q", "list_queues", "name", "messages_ready", "messages_unacknowledged"]);
        out.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[0] == queue)
                .then(|| (f[1].parse().unwrap_or(u64::MAX), f[2].parse().unwrap_or(u64::MAX)))
        })
    }

    /// Stop the node (the Erlang VM exits; durable queues and persistent messages stay on disk).
    pub fn stop_node(&self) {
        let _ = Command::new("rabbitmqctl").args(["-n", &self.node, "stop"]).output();
    }

    /// Stop and start again on the same data directory.
    pub fn restart(&self) {
        self.stop_node();
        self.boot();
    }

    /// Raise a memory alarm: the node blocks every publishing connection.
    pub fn block_publishers(&self) {
        self.ctl(&["set_vm_memory_high_watermark", "0"]);
    }

    /// Clear the memory alarm (back to RabbitMQ's default watermark).
    pub fn unblock_publishers(&self) {
        self.ctl(&["set_vm_memory_high_watermark", "0.4"]);
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        self.stop_node();
        // If `stop` did not work, kill the VM (only if that pid is still this node's) so no node outlives the test.
        if let Ok(pid) = std::fs::read_to_string(self.base.path().join("pid")) {
            let pid = pid.trim();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&self.node) {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
    }
}
