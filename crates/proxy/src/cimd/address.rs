//! Which addresses a client metadata document may be fetched from: public unicast addresses only (and
//! loopback under the development allowance). Everything else is some network's inside — this machine,
//! a private or carrier-grade NAT network, a cloud metadata service on a link-local address — or no
//! destination at all (multicast, unspecified, broadcast, documentation and reserved ranges). The
//! ranges follow the IANA IPv4 and IPv6 special-purpose address registries (RFC 6890).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of an IP address, as far as fetching from it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressClass {
    /// Global unicast: may be fetched from.
    Public,
    /// `127.0.0.0/8`, `::1` (and `::ffff:127.0.0.0/104`): this machine.
    Loopback,
    /// RFC 1918 (`10/8`, `172.16/12`, `192.168/16`) and the deprecated IPv6 site-local `fec0::/10`.
    Private,
    /// `169.254/16` (where cloud metadata services answer) and `fe80::/10`.
    LinkLocal,
    /// IPv6 unique local addresses, `fc00::/7`.
    UniqueLocal,
    /// The shared address space of carrier-grade NAT, `100.64/10` (RFC 6598).
    SharedAddressSpace,
    /// `224/4` and `ff00::/8`.
    Multicast,
    /// `0.0.0.0` and `::`.
    Unspecified,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// Any other special-purpose range: `0/8`, `192.0.0/24`, `192.88.99/24`, `198.18/15`, `240/4`,
    /// IPv4-compatible and IPv4-translated IPv6, `100::/64`, `2001::/23`, local-use NAT64, anything
    /// outside the global unicast `2000::/3`, and NAT64 or 6to4 addresses embedding a loopback address.
    Reserved,
}

impl AddressClass {
    /// "a private", "a loopback"...: the words before "address" in a message.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Public => "a public",
            Self::Loopback => "a loopback",
            Self::Private => "a private",
            Self::LinkLocal => "a link-local",
            Self::UniqueLocal => "a unique-local",
            Self::SharedAddressSpace => "a carrier-grade NAT (shared)",
            Self::Multicast => "a multicast",
            Self::Unspecified => "an unspecified",
            Self::Broadcast => "a broadcast",
            Self::Documentation => "a documentation",
            Self::Reserved => "a reserved",
        }
    }

    /// Whether an address of this class may be fetched from; loopback only with the development
    /// allowance.
    pub(crate) fn permitted(self, allow_loopback: bool) -> bool {
        match self {
            Self::Public => true,
            Self::Loopback => allow_loopback,
            _ => false,
        }
    }
}

/// The class of `ip`. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the IPv4 address they map, so
/// `::ffff:10.0.0.1` is private; NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) addresses are judged by
/// the IPv4 address they embed.
pub(crate) fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    match ip.octets() {
        [0, 0, 0, 0] => Unspecified,
        [255, 255, 255, 255] => Broadcast,
        [0, ..] => Reserved,
        [127, ..] => Loopback,
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => Private,
        [169, 254, ..] => LinkLocal,
        [100, 64..=127, ..] => SharedAddressSpace,
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Documentation,
        [192, 0, 0, _] | [192, 88, 99, _] | [198, 18..=19, ..] => Reserved,
        [224..=239, ..] => Multicast,
        [240..=255, ..] => Reserved,
        _ => Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let segments = ip.segments();
    let embedded = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        match classify_v4(Ipv4Addr::new(a, b, c, d)) {
            // Through a NAT64 gateway or a 6to4 relay, "loopback" is not this machine: still refused.
            Loopback => Reserved,
            class => class,
        }
    };
    match segments {
        [0, 0, 0, 0, 0, 0, 0, 0] => Unspecified,
        [0, 0, 0, 0, 0, 0, 0, 1] => Loopback,
        // IPv4-compatible (deprecated) and everything else in ::/8.
        [0, ..] => Reserved,
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => embedded(high, low),
        [0x2002, high, low, ..] => embedded(high, low),
        [0x2001, 0x0db8, ..] => Documentation,
        [0x3fff, second, ..] if second < 0x1000 => Documentation,
        [0x2001, second, ..] if second < 0x0200 => Reserved,
        [first, ..] if first & 0xffc0 == 0xfe80 => LinkLocal,
        [first, ..] if first & 0xffc0 == 0xfec0 => Private,
        [first, ..] if first & 0xfe00 == 0xfc00 => UniqueLocal,
        [first, ..] if first & 0xff00 == 0xff00 => Multicast,
        // 64:ff9b:1::/48, 100::/64, 5f00::/16 and every other range outside global unicast.
        [first, ..] if first & 0xe000 != 0x2000 => Reserved,
        _ => Public,
    }
}

#[cfg(test)]
mod tests {
    use super::AddressClass::*;
    use super::*;

    fn class(ip: &str) -> AddressClass {
        classify(ip.parse().unwrap_or_else(|e| panic!("{ip}: {e}")))
    }

    #[test]
    fn every_ipv4_range() {
        for (ip, expected) in [
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Reserved),
            ("0.255.255.255", Reserved),
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("10.0.0.1", Private),
            ("10.255.255.255", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.169.254", LinkLocal),
            ("169.254.0.1", LinkLocal),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("192.0.0.8", Reserved),
            ("192.88.99.1", Reserved),
            ("198.18.0.1", Reserved),
            ("198.19.255.255", Reserved),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("254.1.2.3", Reserved),
            ("255.255.255.255", Broadcast),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn the_edges_of_ipv4_ranges_are_public() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.255",
            "192.0.3.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(class(ip), Public, "{ip}");
        }
    }

    #[test]
    fn every_ipv6_range() {
        for (ip, expected) in [
            ("::", Unspecified),
            ("::1", Loopback),
            ("::2", Reserved),
            ("::127.0.0.1", Reserved),
            ("::8.8.8.8", Reserved),
            ("::ffff:0:8.8.8.8", Reserved),
            ("fe80::1", LinkLocal),
            ("febf:ffff::1", LinkLocal),
            ("fec0::1", Private),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("ff02::1", Multicast),
            ("ff0e::1", Multicast),
            ("2001:db8::1", Documentation),
            ("2001:db8:ffff::1", Documentation),
            ("3fff::1", Documentation),
            ("3fff:fff::1", Documentation),
            ("2001::1", Reserved),
            ("2001:2::1", Reserved),
            ("2001:1ff::1", Reserved),
            ("64:ff9b:1::1", Reserved),
            ("100::1", Reserved),
            ("5f00::1", Reserved),
            ("4000::1", Reserved),
            ("e000::1", Reserved),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
        for ip in ["2606:4700:4700::1111", "2001:4860:4860::8888", "2001:200::1", "3fff:1000::1", "2a00::1"] {
            assert_eq!(class(ip), Public, "{ip}");
        }
    }

    #[test]
    fn ipv4_in_ipv6_is_judged_by_the_ipv4_address() {
        for (ip, expected) in [
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:100.64.0.1", SharedAddressSpace),
            ("::ffff:224.0.0.1", Multicast),
            ("::ffff:0.0.0.0", Unspecified),
            ("::ffff:255.255.255.255", Broadcast),
            ("::ffff:192.0.2.1", Documentation),
            ("::ffff:8.8.8.8", Public),
            ("64:ff9b::10.0.0.1", Private),
            ("64:ff9b::169.254.169.254", LinkLocal),
            ("64:ff9b::127.0.0.1", Reserved),
            ("64:ff9b::8.8.8.8", Public),
            ("2002:0a00:0001::1", Private),
            ("2002:7f00:0001::1", Reserved),
            ("2002:a9fe:a9fe::1", LinkLocal),
            ("2002:0808:0808::1", Public),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn only_public_addresses_are_permitted_and_loopback_with_the_allowance() {
        let all = [
            Public,
            Loopback,
            Private,
            LinkLocal,
            UniqueLocal,
            SharedAddressSpace,
            Multicast,
            Unspecified,
            Broadcast,
            Documentation,
            Reserved,
        ];
        for class in all {
            assert_eq!(class.permitted(false), class == Public, "{class:?}");
            assert_eq!(class.permitted(true), matches!(class, Public | Loopback), "{class:?}");
            assert!(class.describe().starts_with('a'));
        }
    }
}
