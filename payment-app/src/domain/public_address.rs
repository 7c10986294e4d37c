//! Which addresses payrail sends webhooks to: public unicast ones only.
//! The rule is the IANA special-purpose address registries, kept here as
//! tables (pure, so registration and delivery, after DNS resolution, apply
//! the same one):
//! <https://www.iana.org/assignments/iana-ipv4-special-registry> and
//! <https://www.iana.org/assignments/iana-ipv6-special-registry>, as of
//! 2025 (RFC 6890 and the RFCs since).
//!
//! Every block of both registries is refused, whatever its "globally
//! reachable" column says: the few reachable ones are anycast services
//! (AS112, AMT, PCP, TURN) where no webhook receiver lives, and refusing a
//! block whole cannot let a non-reachable entry inside it through. IPv4
//! multicast is refused too, and IPv6 outside global unicast (`2000::/3`,
//! the only range IANA allocates for it), which covers whatever the IPv6
//! registry adds outside it later. IPv6 forms that carry an IPv4 address
//! (mapped, compatible, SIIT-translated, the well-known NAT64 prefix, 6to4)
//! are judged by that address: a connection to them reaches it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One block of a registry: its first address, prefix length and name.
struct Block<T> {
    network: T,
    len: u32,
    name: &'static str,
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u32, name: &'static str) -> Block<u32> {
    Block { network: u32::from_be_bytes([a, b, c, d]), len, name }
}

const fn v6(segments: [u16; 8], len: u32, name: &'static str) -> Block<u128> {
    let mut bits = 0u128;
    let mut i = 0;
    while i < 8 {
        bits = (bits << 16) | segments[i] as u128;
        i += 1;
    }
    Block { network: bits, len, name }
}

/// The IPv4 special-purpose registry, and multicast.
const V4_REFUSED: &[Block<u32>] = &[
    v4(0, 0, 0, 0, 8, "this network"),
    v4(10, 0, 0, 0, 8, "private use"),
    v4(100, 64, 0, 0, 10, "shared address space (CGNAT)"),
    v4(127, 0, 0, 0, 8, "loopback"),
    v4(169, 254, 0, 0, 16, "link-local (cloud metadata services)"),
    v4(172, 16, 0, 0, 12, "private use"),
    v4(192, 0, 0, 0, 24, "IETF protocol assignments"),
    v4(192, 0, 2, 0, 24, "documentation (TEST-NET-1)"),
    v4(192, 31, 196, 0, 24, "AS112-v4"),
    v4(192, 52, 193, 0, 24, "AMT"),
    v4(192, 88, 99, 0, 24, "6to4 relay anycast (deprecated)"),
    v4(192, 168, 0, 0, 16, "private use"),
    v4(192, 175, 48, 0, 24, "direct delegation AS112 service"),
    v4(198, 18, 0, 0, 15, "benchmarking"),
    v4(198, 51, 100, 0, 24, "documentation (TEST-NET-2)"),
    v4(203, 0, 113, 0, 24, "documentation (TEST-NET-3)"),
    v4(224, 0, 0, 0, 4, "multicast"),
    v4(240, 0, 0, 0, 4, "reserved (and limited broadcast)"),
];

/// The IPv6 special-purpose registry, the forms that embed IPv4 aside.
/// Blocks outside `2000::/3` are refused by that rule too; they are listed
/// so the table reads as the registry does.
const V6_REFUSED: &[Block<u128>] = &[
    v6([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified"),
    v6([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback"),
    v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "local-use IPv4/IPv6 translation"),
    v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
    v6([0x100, 0, 0, 1, 0, 0, 0, 0], 64, "dummy IPv6 prefix"),
    v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23, "IETF protocol assignments (TEREDO, ORCHID, benchmarking, ...)"),
    v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48, "direct delegation AS112 service"),
    v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
    v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16, "segment routing (SRv6) SIDs"),
    v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique-local"),
    v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
    v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local (deprecated)"),
    v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
];

fn in_block(address: u128, width: u32, network: u128, len: u32) -> bool {
    let shift = width - len;
    len == 0 || (address >> shift) == (network >> shift)
}

/// The special-purpose block `ip` is in, by name, or `None` for a public
/// unicast address.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

/// Whether payrail refuses to send to `ip`: see the module's doc.
pub fn forbidden(ip: IpAddr) -> bool {
    special_purpose(ip).is_some()
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u128::from(u32::from(ip));
    V4_REFUSED.iter().find(|b| in_block(bits, 32, u128::from(b.network), b.len)).map(|b| b.name)
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = embedded_v4(ip) {
        return special_v4(v4);
    }
    let bits = u128::from(ip);
    if let Some(block) = V6_REFUSED.iter().find(|b| in_block(bits, 128, b.network, b.len)) {
        return Some(block.name);
    }
    (!in_block(bits, 128, 0x2000 << 112, 3)).then_some("not global unicast (outside 2000::/3)")
}

/// The IPv4 address an IPv6 address stands for, in the forms where a
/// connection to it reaches that IPv4 address: mapped (`::ffff:a.b.c.d`),
/// SIIT-translated (`::ffff:0:a.b.c.d`), compatible (`::a.b.c.d`, but not
/// `::` and `::1`), the well-known NAT64 prefix (`64:ff9b::a.b.c.d`), and
/// 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => {
            Some(low)
        }
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_loopback() && !ip.is_unspecified() => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_purpose_addresses_are_forbidden() {
        for ip in [
            // IPv4: each block of the registry, and multicast.
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.100.100.200",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.2.1",
            "192.31.196.1",
            "192.52.193.1",
            "192.88.99.1",
            "192.168.1.1",
            "192.175.48.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.5",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            // IPv6: the registry.
            "::",
            "::1",
            "64:ff9b:1::7f00:1",
            "64:ff9b:1::808:808",
            "100::1",
            "100:0:0:1::1",
            "2001::1",
            "2001:1::1",
            "2001:2::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:10::1",
            "2001:20::1",
            "2001:1ff:ffff::1",
            "2001:db8::1",
            "2620:4f:8000::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            // IPv6 outside global unicast.
            "1::1",
            "4000::1",
            "e000::1",
            // IPv6 that embeds a non-public IPv4 address.
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:7f00:1",
            "::ffff:0:a00:1",
            "::10.0.0.1",
            "::7f00:1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert!(forbidden(parsed), "{ip} must be refused");
        }
    }

    #[test]
    fn public_unicast_addresses_are_allowed() {
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.1.1",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700::1111",
            "2001:200::1",
            "2a00:1450:4001::200e",
            "2620:4f:8001::1",
            "::ffff:8.8.8.8",
            "::ffff:0:808:808",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            let parsed: IpAddr = ip.parse().unwrap();
            assert_eq!(special_purpose(parsed), None, "{ip} is public");
        }
    }

    #[test]
    fn refusals_name_the_block() {
        assert_eq!(special_purpose("100::1".parse().unwrap()), Some("discard-only"));
        assert_eq!(special_purpose("::ffff:0:7f00:1".parse().unwrap()), Some("loopback"));
        assert_eq!(
            special_purpose("4000::1".parse().unwrap()),
            Some("not global unicast (outside 2000::/3)")
        );
    }
}
