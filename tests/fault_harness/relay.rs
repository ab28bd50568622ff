//! A TCP relay between the service's processes and RabbitMQ that can cut every connection
//! through it at once, as a network failure would.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct BrokerRelay {
    address: SocketAddr,
    /// Bumped on every cut; each connection ends when it changes.
    cuts: watch::Sender<u64>,
}

impl BrokerRelay {
    pub async fn start(target: SocketAddr) -> BrokerRelay {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cuts, _) = watch::channel(0u64);
        let relay = BrokerRelay {
            address,
            cuts: cuts.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {
                            // A reset, not a polite close: the peers learn of it the hard way.
                            let _ = inbound.set_zero_linger();
                            let _ = outbound.set_zero_linger();
                        }
                    }
                });
            }
        });
        relay
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@{}/%2F", self.address)
    }

    /// Drops every connection open through the relay; new ones are accepted again at once.
    pub fn cut(&self) {
        self.cuts.send_modify(|cuts| *cuts += 1);
    }
}
