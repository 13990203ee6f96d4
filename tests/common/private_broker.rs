//! A RabbitMQ node of the test's own (own node name, AMQP and distribution ports, data and log dirs), for tests
//! that restart, kill or alarm the broker: the machine's shared broker on 5672 is never touched. Debian's
//! `rabbitmq-server`, configured through a `RABBITMQ_CONF_ENV_FILE` of the node's own (the system env file pins
//! `rabbit@localhost`). Started by [`PrivateBroker::start`] (~10 s on 2 cores); restarted (app or whole VM),
//! killed, or made to block its publishers (memory alarm) by the test; stopped and its directory removed on drop.
//! [`PrivateCluster`] joins three such nodes into one RabbitMQ cluster (`rabbitmqctl join_cluster`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A running private node.
pub struct PrivateBroker {
    /// `rqt<pid>x<n>@localhost`
    pub node: String,
    /// AMQP port on 127.0.0.1.
    pub port: u16,
    base: PathBuf,
    env_file: PathBuf,
}

/// A port that was free a moment ago (the broker binds it itself, so it cannot be handed over open).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether Debian's rabbitmq-server package (the broker and rabbitmqctl) is installed.
pub fn rabbitmq_installed() -> bool {
    ["/usr/sbin/rabbitmq-server", "/usr/sbin/rabbitmqctl"].iter().all(|p| std::path::Path::new(p).exists())
}

impl PrivateBroker {
    /// Start a fresh single node and wait until it accepts connections.
    pub fn start() -> PrivateBroker {
        let broker = PrivateBroker::prepare();
        broker.start_node();
        broker
    }

    /// Write a fresh node's files (config, env file, directories); the VM is not started.
    pub fn prepare() -> PrivateBroker {
        let name = super::unique("rqt").replace('-', "x");
        let base = std::env::temp_dir().join(format!("warren-{name}"));
        for d in ["mnesia", "log"] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        let (port, dist) = (free_port(), free_port());
        std::fs::write(base.join("rabbitmq.conf"), format!("listeners.tcp.default = 127.0.0.1:{port}\n")).unwrap();
        std::fs::write(base.join("enabled_plugins"), "[].\n").unwrap();
        let node = format!("{name}@localhost");
        let b = base.display();
        // Debian's rabbitmq-env.conf pins NODENAME: an env file of the node's own overrides it.
        let env_file = base.join("env.conf");
        std::fs::write(
            &env_file,
            format!(
                "NODENAME={node}\nNODE_IP_ADDRESS=127.0.0.1\nNODE_PORT={port}\nDIST_PORT={dist}\n\
                 CONFIG_FILE={b}/rabbitmq\nMNESIA_BASE={b}/mnesia\nLOG_BASE={b}/log\nPID_FILE={b}/pid\n\
                 ENABLED_PLUGINS_FILE={b}/enabled_plugins\nERL_EPMD_ADDRESS=127.0.0.1\n"
            ),
        )
        .unwrap();
        let status = Command::new("chown").args(["-R", "rabbitmq:rabbitmq"]).arg(&base).status().unwrap();
        assert!(status.success(), "chown {b} (tests that start a private broker run as root)");
        PrivateBroker { node, port, base, env_file }
    }

    /// Start the node's VM (after [`PrivateBroker::kill`] or at first) and wait for the app.
    pub fn start_node(&self) {
        self.spawn_vm();
        self.await_startup();
    }

    /// Start the node's VM detached, without waiting for it.
    pub fn spawn_vm(&self) {
        let out = Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_CONF_ENV_FILE", &self.env_file)
            .output()
            .expect("rabbitmq-server runs");
        assert!(out.status.success(), "rabbitmq-server -detached: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// `kill -9` of the node's Erlang VM (by its pid file); returns once the process is gone.
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.base.join("pid")).expect("pid file of a started node");
        let pid = pid.trim().to_string();
        let status = Command::new("kill").args(["-9", &pid]).status().unwrap();
        assert!(status.success(), "kill -9 {pid} ({})", self.node);
        let gone = super::wait_until(30, || !std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert!(gone, "{} (pid {pid}) still runs after kill -9", self.node);
    }

    /// Stop the node (`rabbitmqctl stop`: the Erlang VM exits; durable queues and persistent messages stay on
    /// disk); returns once its process is gone.
    pub fn stop_node(&self) {
        let _ = Command::new("rabbitmqctl").args(["-q", "-n", &self.node, "stop"]).output();
        if let Some(pid) = self.vm_pid() {
            let gone = super::wait_until(60, || !std::path::Path::new(&format!("/proc/{pid}")).exists());
            assert!(gone, "{} (pid {pid}) still runs after rabbitmqctl stop", self.node);
        }
    }

    /// Stop the VM and start it again on the same data directory (every connection drops; durable queues and
    /// persistent messages survive).
    pub fn restart(&self) {
        self.stop_node();
        self.start_node();
    }

    /// The pid of this node's Erlang VM, if its pid file names a process that is still this node.
    fn vm_pid(&self) -> Option<String> {
        let pid = std::fs::read_to_string(self.base.join("pid")).ok()?.trim().to_string();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        (!pid.is_empty() && String::from_utf8_lossy(&cmdline).contains(&self.node)).then_some(pid)
    }

    /// Wait until the app runs and accepts AMQP logins (guest/guest from loopback).
    pub fn await_startup(&self) {
        let ok = super::wait_until(120, || {
            Command::new("rabbitmqctl")
                .args(["-q", "-n", &self.node, "await_startup"])
                .output()
                .is_ok_and(|o| o.status.success())
                && amiquip::Connection::insecure_open(&self.url()).map(|c| c.close()).is_ok()
        });
        assert!(ok, "private node {} did not start (logs in {})", self.node, self.base.join("log").display());
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// `rabbitmqctl -n <node> args…`; stdout. Panics when it fails.
    pub fn ctl(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.node.as_str()];
        all.extend_from_slice(args);
        super::rabbitmqctl(&all)
    }

    /// Stop and start the app (every connection drops; durable queues and persistent messages survive).
    pub fn restart_app(&self) {
        self.ctl(&["-q", "stop_app"]);
        self.ctl(&["-q", "start_app"]);
        self.await_startup();
    }

    /// (ready, unacked) messages of `queue` in vhost `/`; panics if the queue is not there.
    pub fn queue_counts(&self, queue: &str) -> (u64, u64) {
        let out = self.ctl(&["-q", "list_queues", "name", "messages_ready", "messages_unacknowledged"]);
        super::parse_queue_counts(&out, queue).unwrap_or_else(|| panic!("queue {queue} not on {}: {out}", self.node))
    }

    /// (ready, unacked) messages of `queue` in vhost `/`; `None` while the queue is not (yet) there.
    pub fn try_queue_counts(&self, queue: &str) -> Option<(u64, u64)> {
        let out = self.ctl(&["-q", "list_queues", "name", "messages_ready", "messages_unacknowledged"]);
        super::parse_queue_counts(&out, queue)
    }

    /// Raise a memory alarm (watermark 0): the node blocks every publishing connection.
    pub fn block_publishers(&self) {
        self.ctl(&["set_vm_memory_high_watermark", "0"]);
    }

    /// Clear the memory alarm (back to RabbitMQ's default watermark, 0.4).
    pub fn unblock_publishers(&self) {
        self.ctl(&["set_vm_memory_high_watermark", "0.4"]);
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").args(["-q", "-n", &self.node, "stop"]).output();
        // A VM that did not stop in time is killed by its pid file (only while that pid is still this node's),
        // so that no node outlives the test.
        if self.vm_pid().is_some() {
            std::thread::sleep(Duration::from_millis(500));
            if let Some(pid) = self.vm_pid() {
                let _ = Command::new("kill").args(["-9", &pid]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Three private nodes joined into one RabbitMQ cluster; every node stopped and removed on drop.
pub struct PrivateCluster {
    pub nodes: Vec<PrivateBroker>,
}

impl PrivateCluster {
    /// Start three nodes and join the second and third to the first. `None` (after printing why) only where
    /// the rabbitmq-server package is missing.
    pub fn start() -> Option<PrivateCluster> {
        if !rabbitmq_installed() {
            eprintln!("SKIPPED: the rabbitmq-server package is not installed (apt-get install rabbitmq-server)");
            return None;
        }
        let cluster = PrivateCluster { nodes: (0..3).map(|_| PrivateBroker::prepare()).collect() };
        // The VMs boot in parallel; each node is awaited before it joins.
        for n in &cluster.nodes {
            n.spawn_vm();
        }
        for n in &cluster.nodes {
            n.await_startup();
        }
        let first = cluster.nodes[0].node.clone();
        for n in &cluster.nodes[1..] {
            n.ctl(&["-q", "stop_app"]);
            n.ctl(&["-q", "join_cluster", &first]);
            n.ctl(&["-q", "start_app"]);
            n.await_startup();
        }
        let status = cluster.nodes[0].ctl(&["cluster_status"]);
        for n in &cluster.nodes {
            assert!(status.contains(&n.node), "{} not in the cluster: {status}", n.node);
        }
        Some(cluster)
    }

    /// Every node's AMQP URL, in node order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(PrivateBroker::url).collect()
    }

    /// The index of the node holding the leader of quorum queue `queue`, asked of node `via`.
    pub fn leader(&self, queue: &str, via: usize) -> Option<usize> {
        let out = Command::new("rabbitmqctl")
            .args(["-q", "-n", &self.nodes[via].node, "list_queues", "name", "leader"])
            .output()
            .ok()?;
        let out = String::from_utf8_lossy(&out.stdout);
        let leader = out.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 2 && f[0] == queue).then(|| f[1].to_string())
        })?;
        self.nodes.iter().position(|n| n.node == leader)
    }
}
