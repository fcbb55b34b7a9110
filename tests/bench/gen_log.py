#!/usr/bin/env python3
"""Writes a large, deterministic, realistic mixed log for the parser benchmark.

About half the physical lines are AppArmor records of every class (file, exec, cap, net, unix,
signal, ptrace, mount, dbus, change_profile/hat, namespace, io_uring, posix_mqueue, rlimits,
status) in every container aatune reads (kern.log/syslog with and without uptime and with RFC 3339
stamps, auditd's audit.log raw and ENRICHED, dmesg, /dev/kmsg, bare netlink text, the dbus-daemon
syslog fallback, and a dbus USER_AVC wrapped onto a continuation line). The other half is ordinary
noise from the same containers (sshd, systemd, cron, kernel messages, SYSCALL/PROCTITLE/CWD/PATH
companions, login records, an SELinux-style AVC, seccomp records), including lines that mention
AppArmor without being a record, because those are what a cheap prefilter gets wrong.

Record shapes follow docs/records.md (§1.4, §1.5, §2) and the libapparmor test_multi corpus.
The same --seed and --lines always produce the same bytes.

Usage: gen_log.py --lines N [--seed S] [--summary FILE] OUT
"""

import argparse
import json
import random
import re
import sys
import time

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
HOSTS = ["web01", "db-2.example.com", "lap", "kvm-host3.lab.example.org", "build"]

PROFILES = [
    "/usr/sbin/cupsd", "/usr/bin/evince", "/usr/sbin/named", "/usr/sbin/mysqld",
    "/usr/sbin/tcpdump", "/usr/bin/man", "/usr/lib/NetworkManager/nm-dhcp-client.action",
    "/usr/sbin/httpd{,2}-prefork//HANDLING_UNTRUSTED_INPUT", "snap.firefox.firefox",
    "libvirt-3f2a7c1e-9b0d-4e6f-8a21-5c4d3b2a1f00", "libvirt-0b8e1d2c-7a6f-4c3b-9e1d-2f3a4b5c6d7e",
    "docker-default", "lsb_release", "nvidia_modprobe", "/usr/sbin/smbd", "rsyslogd",
    "/usr{,{/lib,/lib32,/lib64}/wine}/bin/wine{,-preloader,server}{,-staging-*,-vanilla-*}",
    "/home/user/bin/my tool", "/opt/app/bin/wörker", "/usr/bin/dolphin", "unconfined",
]
# Subjects that are stacks are printed as label= instead of profile= (records.md §1.1).
STACKS = ["aatest//&aatest_other", "lxd-c1_</var/lib/lxd>//&:lxd-c1_<var-lib-lxd>:unconfined"]
PEERS = ["unconfined", "/usr/sbin/cupsd", "aatest//&aatest_other", "snap.firefox.firefox",
         "/usr/bin/man", "libvirtd"]
DIRS = ["/etc", "/etc/ssl/private", "/var/lib/libvirt/images", "/home/user/.config/evince",
        "/proc/1234", "/sys/devices/system/cpu", "/run/user/1000", "/tmp", "/usr/share/fonts",
        "/var/log", "/home/user/Documents/my files", "/srv/data/résumés", "/dev/shm"]
FILES = ["passwd", "shadow", "disk0.qcow2", "cookies.sqlite", "status", "online", "bus",
         "secret key.pem", "fonts.conf", "syslog", "Übersicht.pdf", "lock", "app.sock"]
COMMS = ["cupsd", "evince", "named", "mysqld", "tcpdump", "man", "nm-dhcp-client.", "httpd",
         "firefox", "qemu-system-x86", "runc", "lsb_release", "nvidia-modprobe", "smbd",
         "rsyslogd", "wine", "my tool", "wörker", "dolphin", "bash"]
CAPS = [(0, "chown"), (1, "dac_override"), (2, "dac_read_search"), (6, "setgid"), (7, "setuid"),
        (12, "net_admin"), (13, "net_raw"), (19, "sys_ptrace"), (21, "sys_admin"),
        (24, "sys_resource"), (38, "perfmon"), (39, "bpf")]
SIGNALS = ["hup", "int", "kill", "usr1", "usr2", "term", "cont", "stop", "rtmin+3"]
DBUS_CALLS = [
    ("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "LookupDynamicUserByName",
     "org.freedesktop.systemd1"),
    ("/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", "org.freedesktop.DBus"),
    ("/org/freedesktop/NetworkManager", "org.freedesktop.DBus.Properties", "GetAll",
     "org.freedesktop.NetworkManager"),
    ("/org/freedesktop/login1", "org.freedesktop.login1.Manager", "Inhibit",
     "org.freedesktop.login1"),
    ("/org/freedesktop/Notifications", "org.freedesktop.Notifications", "Notify",
     "org.freedesktop.Notifications"),
]
USERS = ["root", "alice", "bob", "deploy", "postgres"]
IPS = ["10.0.0.5", "192.168.66.150", "203.0.113.7", "198.51.100.23", "172.16.4.2"]
IP6S = ["fd74:1820:b03a:b361::cf32", "2001:db8::1", "fe80::1c2b:3ff:fe4d:5e6f"]


HEX_VALUE = re.compile(r"[a-z_]=@?(?=[0-9]*[A-F])[0-9A-F]{6,}(?: |$)")


def untrusted(value):
    """The kernel's audit_log_untrustedstring: quoted if plain printable ASCII, else bare hex."""
    raw = value.encode()
    if any(b < 0x21 or b > 0x7E or b == 0x22 for b in raw):
        return raw.hex().upper()
    return '"' + value + '"'


class Generator:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.epoch = 1_700_000_000.0
        self.uptime = 1000.0
        self.serial = 1000
        self.kmsg_seq = 500
        self.lines = []
        self.aa_lines = 0
        self.counts = {"records": 0, "by_class": {}, "by_container": {}, "by_type": {},
                       "without_apparmor_key": 0, "with_class_field": 0, "hex_encoded": 0,
                       "wrapped": 0, "companions": 0}

    # ---- helpers -----------------------------------------------------------------------------

    def tick(self):
        step = self.r.random() * 2.0
        self.epoch += step
        self.uptime += step

    def audit_id(self):
        self.serial += 1
        return "%d.%03d:%d" % (int(self.epoch), int((self.epoch % 1) * 1000), self.serial)

    def syslog_prefix(self, style):
        t = time.gmtime(int(self.epoch))
        host = self.host
        if style == "rfc3339":
            return "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00 %s" % (
                t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                int((self.epoch % 1) * 1e6), host)
        return "%s %2d %02d:%02d:%02d %s" % (MONTHS[t.tm_mon - 1], t.tm_mday, t.tm_hour, t.tm_min,
                                             t.tm_sec, host)

    def uptime_text(self):
        return "[%12.6f]" % self.uptime

    def subject(self):
        r = self.r
        if r.random() < 0.04:
            return "label=" + untrusted(r.choice(STACKS))
        if r.random() < 0.04:
            return 'namespace="root//lxd-c1_<var-lib-lxd>" profile=' + untrusted(r.choice(PROFILES))
        return "profile=" + untrusted(r.choice(PROFILES))

    def pid_comm(self):
        return "pid=%d comm=%s" % (self.r.randrange(100, 400000), untrusted(self.r.choice(COMMS)))

    def path(self, trailing_dir=False):
        r = self.r
        p = r.choice(DIRS)
        if trailing_dir:
            return p + "/" + r.choice(["cache", "new dir", "tmp.%d" % r.randrange(1000)]) + "/"
        return p + "/" + r.choice(FILES)

    def mode(self):
        x = self.r.random()
        return "DENIED" if x < 0.72 else "ALLOWED" if x < 0.94 else "AUDIT" if x < 0.99 else "KILLED"

    # ---- AppArmor record bodies: (class, body) -----------------------------------------------
    # `cls` is the class the kernel would print; `with_class` chooses 6.12-style output.

    def rec_file(self, wc):
        r = self.r
        op, req = r.choice([("open", "r"), ("open", "r"), ("open", "w"), ("open", "a"),
                            ("open", "rw"), ("getattr", "r"), ("mknod", "c"), ("mkdir", "c"),
                            ("unlink", "d"), ("rename_src", "r"), ("rename_dest", "wc"),
                            ("chmod", "w"), ("chown", "w"), ("truncate", "w"),
                            ("file_mmap", "m"), ("file_lock", "k"), ("file_inherit", "r"),
                            ("link", "l"), ("symlink", "c")])
        name = self.path(trailing_dir=(op == "mkdir"))
        body = ('apparmor="%s" operation="%s"%s %s name=%s %s requested_mask="%s" '
                'denied_mask="%s" fsuid=%d ouid=%d') % (
            self.mode(), op, ' class="file"' if wc else "", self.subject(), untrusted(name),
            self.pid_comm(), req, req, r.choice([0, 0, 1000]), r.choice([0, 0, 1000, 33]))
        if op == "link":
            body += ' target=' + untrusted(self.path())
        return "file", body

    def rec_exec(self, wc):
        r = self.r
        prof = r.choice(PROFILES)
        m = self.mode()
        info = ""
        if r.random() < 0.2:
            info = ' info="%s" error=-1' % r.choice(["no new privs", "profile transition not found",
                                                     "ix fallback", "ptrace prevents transition"])
        target = ""
        if m == "ALLOWED":
            target = " target=" + untrusted(prof + "//null-" + r.choice(["/usr/bin/rm", "/bin/sh"]))
        body = ('apparmor="%s" operation="exec"%s%s profile=%s name=%s %s requested_mask="x" '
                'denied_mask="x" fsuid=0 ouid=0%s') % (
            m, ' class="file"' if wc else "", info, untrusted(prof),
            untrusted(r.choice(["/usr/bin/rm", "/bin/busybox", "/usr/bin/python3.11",
                                "/opt/my app/run"])), self.pid_comm(), target)
        return "file", body

    def rec_domain(self, wc):
        r = self.r
        x = r.random()
        if x < 0.4:
            tgt = r.choice(PEERS[1:])
            return "file", ('apparmor="DENIED" operation="change_profile"%s %s name=%s %s '
                            'target=%s') % (' class="file"' if wc else "", self.subject(),
                                            untrusted(tgt), self.pid_comm(), untrusted(tgt))
        if x < 0.7:
            return "file", ('apparmor="DENIED" operation="change_onexec"%s info="label not found" '
                            'error=-2 profile="/usr/lib/snapd/snap-confine" '
                            'name="snap.firefox.firefox" %s') % (
                ' class="file"' if wc else "", self.pid_comm())
        return "file", ('apparmor="ALLOWED" operation="change_hat"%s '
                        'profile="/usr/sbin/httpd{,2}-prefork" %s '
                        'target="/usr/sbin/httpd{,2}-prefork//HANDLING_UNTRUSTED_INPUT"') % (
            ' class="file"' if wc else "", self.pid_comm())

    def rec_cap(self, wc):
        num, name = self.r.choice(CAPS)
        return "cap", 'apparmor="%s" operation="capable"%s %s %s capability=%d  capname="%s"' % (
            self.mode(), ' class="cap"' if wc else "", self.subject(), self.pid_comm(), num, name)

    def rec_net(self, wc):
        r = self.r
        op = r.choice(["create", "connect", "sendmsg", "recvmsg", "bind", "listen", "accept",
                       "setsockopt", "file_perm"])
        fam, st, proto = r.choice([("inet", "stream", 6), ("inet", "dgram", 17),
                                   ("inet6", "stream", 6), ("netlink", "raw", 9),
                                   ("packet", "raw", 768), ("unknown(44)", "unknown(9)", 0)])
        addrs = ""
        if op in ("connect", "sendmsg", "recvmsg", "accept", "file_perm") and fam == "inet":
            addrs = " laddr=%s lport=%d faddr=%s fport=%d" % (
                r.choice(IPS), r.randrange(1024, 65535), r.choice(IPS), r.choice([53, 443, 2049]))
        elif op == "bind" and fam == "inet6":
            addrs = " saddr=%s src=%d" % (r.choice(IP6S), r.randrange(1024, 65535))
        mask = {"sendmsg": "send", "recvmsg": "receive", "file_perm": "send receive"}.get(op, op)
        if r.random() < 0.3:  # Ubuntu netv9 spelling (testcase_network_10.in)
            masks = 'requested="%s" denied="%s"' % (mask, mask)
        else:
            masks = 'requested_mask="%s" denied_mask="%s"' % (mask, mask)
        return "net", 'apparmor="%s" operation="%s"%s %s %s%s family="%s" sock_type="%s" ' \
                      'protocol=%d %s' % (self.mode(), op, ' class="net"' if wc else "",
                                          self.subject(), self.pid_comm(), addrs, fam, st, proto,
                                          masks)

    def rec_unix(self, wc):
        r = self.r
        op = r.choice(["connect", "bind", "sendmsg", "file_inherit", "listen"])
        mask = {"connect": "send receive connect", "sendmsg": "send",
                "file_inherit": "send receive"}.get(op, op)
        addr = r.choice(['none', '"@test_abstract_socket"', '"@/tmp/.X11-unix/X0"',
                         '"/run/dbus/system_bus_socket"', "\"@" + b"sock\x01".hex().upper() + "\""])
        body = ('apparmor="%s" operation="%s"%s %s %s family="unix" sock_type="%s" protocol=0 '
                'requested="%s" denied="%s" addr=%s') % (
            self.mode(), op, ' class="net"' if wc else "", self.subject(), self.pid_comm(),
            r.choice(["stream", "dgram", "seqpacket"]), mask, mask, addr)
        if op in ("connect", "sendmsg"):
            body += ' peer_addr="@test_abstract_socket" peer=' + untrusted(r.choice(PEERS))
        return "net", body

    def rec_signal(self, wc):
        r = self.r
        mask = r.choice(["send", "receive"])
        return "signal", ('apparmor="%s" operation="signal"%s %s %s requested_mask="%s" '
                          'denied_mask="%s" signal=%s peer=%s') % (
            self.mode(), ' class="signal"' if wc else "", self.subject(), self.pid_comm(), mask,
            mask, r.choice(SIGNALS), untrusted(r.choice(PEERS)))

    def rec_ptrace(self, wc):
        r = self.r
        mask = r.choice(["read", "trace", "readby", "tracedby"])
        masks = ' requested_mask="%s" denied_mask="%s"' % (mask, mask)
        if r.random() < 0.1:  # old kernels: no masks (ptrace_no_denied_mask.in)
            masks = ""
        return "ptrace", 'apparmor="%s" operation="ptrace"%s %s %s%s peer=%s' % (
            self.mode(), ' class="ptrace"' if wc else "", self.subject(), self.pid_comm(), masks,
            untrusted(r.choice(PEERS)))

    def rec_mount(self, wc):
        r = self.r
        c = ' class="mount"' if wc else ""
        x = r.random()
        if x < 0.6:
            return "mount", ('apparmor="DENIED" operation="mount"%s info="failed mntpnt match" '
                             'error=-13 %s name=%s %s fstype="%s" srcname=%s flags="%s"') % (
                c, self.subject(), untrusted(r.choice(["/mnt/", "/media/usb stick/", "/srv/"])),
                self.pid_comm(), r.choice(["tmpfs", "ext4", "overlay", "nfs4"]),
                untrusted(r.choice(["none", "/dev/sdb1", "server:/export"])),
                r.choice(["rw, nosuid, nodev", "ro", "ro, remount", "rw, bind"]))
        if x < 0.85:
            return "mount", 'apparmor="DENIED" operation="umount"%s %s name=%s %s' % (
                c, self.subject(), untrusted(r.choice(["/mnt/a/", "/proc/sys/fs/binfmt_misc/"])),
                self.pid_comm())
        return "mount", ('apparmor="DENIED" operation="pivotroot"%s %s name="/tmp/root/new_root/" '
                         '%s srcname="/tmp/root/new_root/put_old/"') % (
            c, self.subject(), self.pid_comm())

    def rec_misc(self, wc):
        r = self.r
        x = r.random()
        if x < 0.3:
            return "namespace", ('apparmor="%s" operation="userns_create"%s %s %s '
                                 'requested="userns_create" denied="userns_create"') % (
                self.mode(), ' class="namespace"' if wc else "", self.subject(), self.pid_comm())
        if x < 0.5:
            if r.random() < 0.5:
                return "io_uring", ('apparmor="DENIED" operation="uring_sqpoll"%s %s %s '
                                    'requested="sqpoll" denied="sqpoll"') % (
                    ' class="io_uring"' if wc else "", self.subject(), self.pid_comm())
            return "io_uring", ('apparmor="DENIED" operation="uring_override"%s %s %s '
                                'requested="override_creds" denied="override_creds" tcontext=%s') % (
                ' class="io_uring"' if wc else "", self.subject(), self.pid_comm(),
                untrusted(r.choice(PEERS)))
        if x < 0.7:
            # Ubuntu prints class= late, from inside the mqueue callback (records.md §1.4).
            return "posix_mqueue", ('apparmor="DENIED" operation="%s" %s name="/queuename" %s '
                                    'requested="%s" denied="%s" class="posix_mqueue" fsuid=0 '
                                    'ouid=0') % tuple(
                [r.choice(["create", "open", "unlink"]), self.subject(), self.pid_comm()] +
                [r.choice(["create", "read", "write"])] * 2)
        return "rlimits", ('apparmor="DENIED" operation="setrlimit"%s %s %s rlimit=%s value=%d') % (
            ' class="rlimits"' if wc else "", self.subject(), self.pid_comm(),
            r.choice(["nofile", "nproc", "memlock", "stack"]), r.choice([1024, 65536, 8388608]))

    def rec_status(self, wc):
        r = self.r
        op = r.choice(["profile_load", "profile_replace", "profile_replace", "profile_remove"])
        info = ' info="same as current profile, skipping"' if r.random() < 0.2 else ""
        return "status", ('apparmor="STATUS" operation="%s"%s profile="unconfined" name=%s '
                          'pid=%d comm="apparmor_parser"') % (
            op, info, untrusted(r.choice(PROFILES)), r.randrange(100, 40000))

    def dbus_body(self):
        r = self.r
        path, iface, member, name = r.choice(DBUS_CALLS)
        mask = r.choice(["send", "send", "receive", "bind"])
        return ('apparmor="%s" operation="dbus_method_call"  bus="%s" path="%s" interface="%s" '
                'member="%s" mask="%s" name="%s" pid=%d label="%s" peer_pid=%d '
                'peer_label="%s"') % (
            r.choice(["DENIED", "DENIED", "ALLOWED"]), r.choice(["system", "session"]), path,
            iface, member, mask, name, r.randrange(100, 40000), r.choice(PROFILES[:12]),
            r.randrange(1, 4000), r.choice(PEERS))

    # ---- emitters ----------------------------------------------------------------------------

    KERNEL_KINDS = None  # filled below: (weight, method)

    def kernel_record(self):
        r = self.r
        x = r.random()
        for limit, fn in self.KERNEL_KINDS:
            if x < limit:
                with_class = r.random() < 0.5
                cls, body = fn(self, with_class)
                return cls, body, with_class or ' class="' in body
        raise AssertionError("weights must end at 1.0")

    def count(self, cls, container, body, with_class, has_key=True):
        c = self.counts
        c["records"] += 1
        c["by_class"][cls] = c["by_class"].get(cls, 0) + 1
        c["by_container"][container] = c["by_container"].get(container, 0) + 1
        etype = body.split('"', 2)[1] if body.startswith("apparmor=") else "legacy"
        c["by_type"][etype] = c["by_type"].get(etype, 0) + 1
        if with_class:
            c["with_class_field"] += 1
        if HEX_VALUE.search(body):
            c["hex_encoded"] += 1
        if not has_key:
            c["without_apparmor_key"] += 1

    def emit_aa(self, container):
        """One AppArmor record in `container` (may add companion/continuation noise lines)."""
        r = self.r
        out = self.lines
        self.aa_lines += 1
        if container == "auditlog":
            if r.random() < 0.12:
                aid = self.audit_id()
                body = self.dbus_body()
                uid = r.choice([0, 103])
                line = ("type=USER_AVC msg=audit(%s): pid=%d uid=%d auid=4294967295 "
                        "ses=4294967295 subj=unconfined msg='%s exe=\"/usr/bin/dbus-daemon\" "
                        "sauid=%d hostname=? addr=? terminal=?'\x1dUID=\"%s\" AUID=\"unset\" "
                        "SAUID=\"%s\"") % (aid, r.randrange(300, 3000), uid, body, uid,
                                          "root" if uid == 0 else "messagebus",
                                          "root" if uid == 0 else "messagebus")
                out.append(line)
                self.count("dbus", container, body, False)
                return
            cls, body, wc = self.kernel_record()
            aid = self.audit_id()
            node = "node=%s " % self.host if r.random() < 0.1 else ""
            line = "%stype=AVC msg=audit(%s): %s" % (node, aid, body)
            if "fsuid=" in body and r.random() < 0.7:  # auditd ENRICHED (0x1d-uppercase-*.in)
                line += '\x1dFSUID="root" OUID="root"'
            out.append(line)
            self.count(cls, container, body, wc)
            if r.random() < 0.3:  # audit enabled: the syscall's companions share the serial
                self.emit_companions(aid, body)
            return
        if container == "syslog" and r.random() < 0.04:
            # dbus: USER_AVC via kmsg (sometimes wrapped, testcase_dbus_09.in) or the fallback.
            body = self.dbus_body()
            prefix = self.syslog_prefix(self.stamp)
            if r.random() < 0.5:
                aid = self.audit_id()
                head = ("%s kernel: %s audit: type=1107 audit(%s): pid=%d uid=103 "
                        "auid=4294967295 ses=4294967295 msg='%s") % (
                    prefix, self.uptime_text(), aid, r.randrange(300, 3000), body)
                tail = 'exe="/usr/bin/dbus-daemon" sauid=103 hostname=? addr=? terminal=?\''
                if r.random() < 0.3:
                    out.append(head)
                    out.append("                  " + tail)
                    self.counts["wrapped"] += 1
                else:
                    out.append(head + " " + tail)
            else:
                out.append("%s dbus-daemon[%d]: %s" % (prefix, r.randrange(300, 4000), body))
            self.count("dbus", container, body, False)
            return
        if r.random() < 0.001:
            # Pre-2.6.x legacy record: numeric type, no apparmor= key (syslog_audit_05.in).
            aid = self.audit_id()
            body = ('operation="inode_permission" requested_mask="r::" denied_mask="r::" fsuid=0 '
                    'name="/bin/dash" pid=%d profile="/bin/dash"') % r.randrange(100, 9000)
            out.append("%s kernel: %s type=1502 audit(%s): %s" % (
                self.syslog_prefix("bsd"), self.uptime_text(), aid, body))
            self.aa_lines -= 1  # the line has no apparmor= key
            self.count("file", container, body, False, has_key=False)
            return
        cls, body, wc = self.kernel_record()
        aid = self.audit_id()
        rec = "type=1400 audit(%s): %s" % (aid, body)
        if container == "syslog":
            if self.stamp == "noup":
                line = "%s kernel: audit: %s" % (self.syslog_prefix("bsd"), rec)
            else:
                line = "%s kernel: %s audit: %s" % (self.syslog_prefix(self.stamp),
                                                     self.uptime_text(), rec)
        elif container == "dmesg":
            line = "%s audit: %s" % (self.uptime_text(), rec)
        elif container == "kmsg":
            self.kmsg_seq += 1
            line = "5,%d,%d,-;audit: %s" % (self.kmsg_seq, int(self.uptime * 1e6), rec)
        else:  # bare netlink text
            line = rec
        out.append(line)
        self.count(cls, container, body, wc)

    def emit_companions(self, aid, body):
        r = self.r
        comm = r.choice(COMMS)
        subj = r.choice(PROFILES)
        self.lines.append(
            ('type=SYSCALL msg=audit(%s): arch=c000003e syscall=257 success=no exit=-13 '
             'a0=ffffff9c a1=%x a2=0 a3=0 items=%d ppid=%d pid=%d auid=4294967295 uid=0 gid=0 '
             'euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=%s '
             'exe="/usr/bin/%s" subj=%s key=(null)\x1dARCH=x86_64 SYSCALL=openat '
             'AUID="unset" UID="root" GID="root"') % (
                aid, r.randrange(1 << 20, 1 << 40), 1, r.randrange(1, 5000),
                r.randrange(100, 40000), untrusted(comm), comm.replace(" ", "_"), subj))
        if r.random() < 0.5:
            self.lines.append('type=CWD msg=audit(%s): cwd=%s' % (aid, untrusted(r.choice(DIRS))))
            self.lines.append(
                'type=PATH msg=audit(%s): item=0 name=%s inode=%d dev=08:01 mode=0100644 '
                'ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 '
                'cap_frootid=0\x1dOUID="root" OGID="root"' % (aid, untrusted(self.path()),
                                                            r.randrange(1000, 9999999)))
        argv = [b"/usr/bin/" + comm.encode(), b"--config", b"/etc/app.conf"]
        self.lines.append("type=PROCTITLE msg=audit(%s): proctitle=%s" % (
            aid, b"\x00".join(argv[: r.randrange(1, 4)]).hex().upper()))
        self.counts["companions"] += 1

    def emit_noise(self, container):
        r = self.r
        out = self.lines
        if container == "auditlog":
            x = r.random()
            aid = self.audit_id()
            user = r.choice(USERS)
            if x < 0.35:
                self.emit_companions(aid, "")
            elif x < 0.8:
                kind = r.choice(["USER_LOGIN", "USER_START", "CRED_ACQ", "USER_END", "CRED_DISP",
                                 "USER_ACCT", "USER_AUTH"])
                out.append(("type=%s msg=audit(%s): pid=%d uid=0 auid=%d ses=%d "
                            "subj=unconfined msg='op=PAM:session_open grantors=pam_unix "
                            "acct=\"%s\" exe=\"/usr/sbin/sshd\" hostname=%s addr=%s "
                            "terminal=ssh res=success'\x1dUID=\"root\" AUID=\"%s\"") % (
                    kind, aid, r.randrange(300, 90000), r.randrange(1000, 1005),
                    r.randrange(1, 400), user, r.choice(IPS), r.choice(IPS), user))
            elif x < 0.93:
                unit = r.choice(["apparmor", "cron", "ssh", "systemd-tmpfiles-clean", "libvirtd"])
                out.append(("type=SERVICE_%s msg=audit(%s): pid=1 uid=0 auid=4294967295 "
                            "ses=4294967295 subj=unconfined msg='unit=%s comm=\"systemd\" "
                            "exe=\"/usr/lib/systemd/systemd\" hostname=? addr=? terminal=? "
                            "res=success'\x1dUID=\"root\" AUID=\"unset\"") % (
                    r.choice(["START", "STOP"]), aid, unit))
            elif x < 0.97:
                out.append("type=BPF msg=audit(%s): prog-id=%d op=%s" % (
                    aid, r.randrange(10, 900), r.choice(["LOAD", "UNLOAD"])))
            else:
                # An SELinux AVC: same type, not ours.
                out.append(('type=AVC msg=audit(%s): avc:  denied  { read } for  pid=%d '
                            'comm="%s" name="%s" dev="sda1" ino=%d '
                            'scontext=system_u:system_r:httpd_t:s0 '
                            'tcontext=unconfined_u:object_r:user_home_t:s0 tclass=file '
                            'permissive=0') % (aid, r.randrange(300, 90000), r.choice(COMMS),
                                               r.choice(FILES), r.randrange(1000, 999999)))
            return
        kernel_msgs = [
            "e1000e: enp0s31f6 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
            "EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: none.",
            "usb 1-4: new high-speed USB device number %d using xhci_hcd" % r.randrange(2, 40),
            "kauditd_printk_skb: %d callbacks suppressed" % r.randrange(2, 2000),
            "AppArmor: AppArmor Filesystem Enabled",
            "virbr0: port 2(vnet%d) entered forwarding state" % r.randrange(0, 9),
            "[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC=%s DST=%s LEN=40 PROTO=TCP "
            "SPT=%d DPT=22" % (r.choice(IPS), r.choice(IPS), r.randrange(1024, 65535)),
            "audit: type=1326 audit(%s): auid=1000 uid=1000 gid=1000 ses=3 subj=unconfined "
            "pid=%d comm=\"chrome\" exe=\"/opt/google/chrome/chrome\" sig=0 arch=c000003e "
            "syscall=330 compat=0 ip=0x7f2b code=0x50000" % (self.audit_id(), r.randrange(9999)),
            "audit: type=1400 audit(%s): avc:  denied  { map } for  pid=%d comm=\"java\" "
            "path=\"/tmp/x\" scontext=u:r:t:s0 tcontext=u:object_r:f:s0 tclass=file "
            "permissive=1" % (self.audit_id(), r.randrange(9999)),
            "__ratelimit: %d callbacks suppressed" % r.randrange(2, 90),
        ]
        if container in ("dmesg", "kmsg", "bare"):
            msg = r.choice(kernel_msgs)
            if container == "dmesg" or container == "bare":
                out.append("%s %s" % (self.uptime_text(), msg))
            else:
                self.kmsg_seq += 1
                out.append("6,%d,%d,-;%s" % (self.kmsg_seq, int(self.uptime * 1e6), msg))
            return
        prefix = self.syslog_prefix("bsd" if self.stamp == "noup" else self.stamp)
        x = r.random()
        pid = r.randrange(300, 90000)
        user = r.choice(USERS)
        if x < 0.25:
            out.append("%s kernel: %s %s" % (prefix, self.uptime_text(), r.choice(kernel_msgs)))
        elif x < 0.45:
            out.append(r.choice([
                "%s sshd[%d]: Accepted publickey for %s from %s port %d ssh2: ED25519 "
                "SHA256:Xb3kq9QmUuW0pZt1Vn7eYc2hR5sLd8aFgJ4oI6yT0wE" % (
                    prefix, pid, user, r.choice(IPS), r.randrange(1024, 65535)),
                "%s sshd[%d]: pam_unix(sshd:session): session opened for user %s(uid=1000) by "
                "(uid=0)" % (prefix, pid, user),
                "%s sshd[%d]: Failed password for invalid user admin from %s port %d ssh2" % (
                    prefix, pid, r.choice(IPS), r.randrange(1024, 65535)),
            ]))
        elif x < 0.75:
            out.append(r.choice([
                "%s systemd[1]: Started session-%d.scope - Session %d of User %s." % (
                    prefix, pid % 500, pid % 500, user),
                "%s systemd[1]: Starting apparmor.service - Load AppArmor profiles..." % prefix,
                "%s systemd[1]: Finished apparmor.service - Load AppArmor profiles." % prefix,
                "%s systemd-logind[612]: New session %d of user %s." % (prefix, pid % 500, user),
                "%s systemd[1]: logrotate.service: Deactivated successfully." % prefix,
            ]))
        elif x < 0.9:
            out.append("%s CRON[%d]: (%s) CMD (%s)" % (prefix, pid, user, r.choice([
                "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
                "cd / && run-parts --report /etc/cron.hourly",
                "/usr/local/bin/backup.sh --quiet"])))
        else:
            out.append(r.choice([
                "%s NetworkManager[712]: <info>  [%d.%04d] dhcp4 (eth0): state changed new lease, "
                "address=%s" % (prefix, int(self.epoch), pid % 10000, r.choice(IPS)),
                "%s rsyslogd: [origin software=\"rsyslogd\" swVersion=\"8.2302.0\" x-pid=\"%d\" "
                "x-info=\"https://www.rsyslog.com\"] rsyslogd was HUPed" % (prefix, pid),
                "%s libvirtd[%d]: internal error: cannot load AppArmor profile 'libvirt-x'" % (
                    prefix, pid),
            ]))

    def generate(self, total):
        r = self.r
        containers = [(0.40, "syslog"), (0.75, "auditlog"), (0.85, "dmesg"), (0.90, "kmsg"),
                      (1.0, "bare")]
        while len(self.lines) < total:
            x = r.random()
            container = next(c for limit, c in containers if x < limit)
            self.host = r.choice(HOSTS)
            self.stamp = r.choice(["bsd", "bsd", "bsd", "noup", "rfc3339"])
            for _ in range(r.randrange(5, 150)):
                if len(self.lines) >= total:
                    break
                self.tick()
                # Steer towards half AppArmor lines: companions add noise lines on their own.
                share = self.aa_lines / len(self.lines) if self.lines else 0.5
                if r.random() < 0.5 + 50.0 * (0.5 - share):
                    self.emit_aa(container)
                else:
                    self.emit_noise(container)
        return self.lines


# Cumulative weights of the kernel record classes.
Generator.KERNEL_KINDS = [
    (0.40, Generator.rec_file), (0.48, Generator.rec_exec), (0.52, Generator.rec_domain),
    (0.60, Generator.rec_cap), (0.70, Generator.rec_net), (0.76, Generator.rec_unix),
    (0.83, Generator.rec_signal), (0.88, Generator.rec_ptrace), (0.92, Generator.rec_mount),
    (0.96, Generator.rec_misc), (1.0, Generator.rec_status)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, required=True, help="physical lines to write (at least)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--summary", help="write the expected per-class totals here as JSON")
    ap.add_argument("out", help="output file ('-' for stdout)")
    args = ap.parse_args()
    if args.lines <= 0:
        ap.error("--lines must be positive")
    gen = Generator(args.seed)
    lines = gen.generate(args.lines)
    data = ("\n".join(lines) + "\n").encode()
    if args.out == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(args.out, "wb") as f:
            f.write(data)
    if args.summary:
        summary = dict(gen.counts, lines=len(lines), bytes=len(data), seed=args.seed)
        with open(args.summary, "w") as f:
            json.dump(summary, f, indent=1, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()
