//! A three-node `nats-server` cluster for fault tests: three processes on free loopback
//! ports, routes between all of them, JetStream on each with its own temporary directory.
//! Any node can be killed (SIGKILL), stopped or started again on the same ports with the
//! same store; all of them are killed when the cluster is dropped.
//!
//! Each node runs the configuration shipped in `deploy/nats/cluster/` (rendered by
//! [`node_config`] with the test's ports and directories; a unit test checks that the
//! shipped files are exactly what [`node_config`] renders with the example's values).
//!
//! JetStream needs a moment after the processes are ready to elect its meta leader: tests
//! retry their first JetStream call (stream creation) with a deadline.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
};

use crate::{find_binary, free_port, spawn_ready, terminate};

/// Nodes in the cluster.
pub const NODES: usize = 3;

/// The cluster's name (the `cluster.name` of every node).
pub const CLUSTER_NAME: &str = "rosey";

/// The configuration of node `index` (0-based; its server name is `n1`..`n3`) of a cluster
/// whose nodes listen for clients on `client_ports` and for routes on `route_ports`, all on
/// 127.0.0.1, with its JetStream store in `store_dir`.
pub fn node_config(
    index: usize,
    client_ports: [u16; NODES],
    route_ports: [u16; NODES],
    store_dir: &str,
) -> String {
    let routes: String = route_ports
        .iter()
        .map(|p| format!("    nats-route://127.0.0.1:{p}\n"))
        .collect();
    format!(
        "# Node n{n} of a three-node NATS cluster for Rosey (see README.md beside this file).\n\
         server_name: n{n}\n\
         listen: 127.0.0.1:{client}\n\
         \n\
         jetstream {{\n\
         \x20 store_dir: \"{store_dir}\"\n\
         }}\n\
         \n\
         cluster {{\n\
         \x20 name: {CLUSTER_NAME}\n\
         \x20 listen: 127.0.0.1:{route}\n\
         \x20 # Every node lists every node (itself included, which it ignores).\n\
         \x20 routes: [\n\
         {routes}\
         \x20 ]\n\
         }}\n",
        n = index + 1,
        client = client_ports[index],
        route = route_ports[index],
    )
}

/// One node of a [`NatsCluster`].
struct Node {
    config: PathBuf,
    client_port: u16,
    child: Option<Child>,
}

/// A running three-node cluster owned by a test.
pub struct NatsCluster {
    binary: PathBuf,
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Starts three nodes (routes and JetStream on each) and waits until every process
    /// accepts clients. Panics with install instructions when nats-server is missing.
    pub fn start() -> NatsCluster {
        let binary = find_binary().unwrap_or_else(|| {
            panic!(
                "nats-server not found; install it with `apt-get install -y nats-server` \
                 (Debian/Ubuntu) or from https://nats.io"
            )
        });
        let dir = tempfile::tempdir().expect("create the cluster's temporary directory");
        let client_ports: [u16; NODES] = std::array::from_fn(|_| free_port());
        let route_ports: [u16; NODES] = std::array::from_fn(|_| free_port());
        let nodes = (0..NODES)
            .map(|i| {
                let store = dir.path().join(format!("n{}", i + 1));
                std::fs::create_dir_all(&store).expect("create a node's store directory");
                let config = dir.path().join(format!("n{}.conf", i + 1));
                let text = node_config(i, client_ports, route_ports, &store.to_string_lossy());
                std::fs::write(&config, text).expect("write a node's configuration");
                Node {
                    config,
                    client_port: client_ports[i],
                    child: None,
                }
            })
            .collect();
        let mut cluster = NatsCluster { binary, nodes, dir };
        for i in 0..NODES {
            cluster.start_node(i);
        }
        cluster
    }

    /// `nats://127.0.0.1:<port>` of node `index`.
    pub fn url(&self, index: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[index].client_port)
    }

    /// Every node's URL, in node order.
    pub fn urls(&self) -> Vec<String> {
        (0..NODES).map(|i| self.url(i)).collect()
    }

    /// Every node's URL, comma-separated (the form `--nats-url` and `NATS_URL` take).
    pub fn urls_joined(&self) -> String {
        self.urls().join(",")
    }

    /// The client port of node `index` (kept across restarts).
    pub fn port(&self, index: usize) -> u16 {
        self.nodes[index].client_port
    }

    /// The index of the node listening for clients on `port`, if any.
    pub fn node_of_port(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.client_port == port)
    }

    /// The directory holding the nodes' configurations and stores.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Is node `index` running?
    pub fn is_running(&self, index: usize) -> bool {
        self.nodes[index].child.is_some()
    }

    /// Kills node `index` with SIGKILL (a crash).
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops node `index` (SIGTERM, then SIGKILL after 5 s).
    pub fn stop(&mut self, index: usize) {
        if let Some(child) = self.nodes[index].child.take() {
            terminate(child);
        }
    }

    /// Starts node `index` (again) on its ports with its store; no-op when it runs.
    pub fn start_node(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        if node.child.is_none() {
            let mut cmd = Command::new(&self.binary);
            cmd.arg("-c").arg(&node.config);
            node.child = Some(spawn_ready(&mut cmd));
        }
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..NODES {
            self.kill(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in `deploy/nats/cluster/` is the configuration the tests run.
    #[test]
    fn the_shipped_example_is_what_the_tests_run() {
        let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats/cluster");
        for i in 0..NODES {
            let file = deploy.join(format!("n{}.conf", i + 1));
            let shipped = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
            let rendered = node_config(
                i,
                [4222, 4223, 4224],
                [6222, 6223, 6224],
                &format!("/var/lib/nats/n{}", i + 1),
            );
            assert_eq!(shipped, rendered, "{} differs", file.display());
        }
    }
}
