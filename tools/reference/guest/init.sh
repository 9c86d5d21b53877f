#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# /init of both kernels of a reference cycle (tools/reference). The primary kernel (stage 1)
# binds the recipe's drivers, starts disk DMA, loads the crash kernel with `kexec -p` and
# panics with sysrq-c; the kdump kernel (stage 2, `refstage=2` on its command line) binds its
# drivers after the recipe's delays, lets the devices run, and powers off. Every step prints a
# `REF <uptime> <step>` line; the host stamps each console line with its own clock, which is
# the clock of QEMU's trace, so the converter can split the trace into phases.
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "REF $(cut -d' ' -f1 /proc/uptime) $*" > /dev/console; }
# recipe.env sets PRIMARY_MODULES, KDUMP_MODULES, DELAY_<module> (seconds, kdump only),
# DISK_DMA (1: a read loop on /dev/vda), CRASH_AFTER and KDUMP_RUN (seconds), KDUMP_APPEND (more
# arguments for the crash kernel: acpi=force on an ACPI machine).
. /recipe.env

# Brings up every NIC a driver has bound (once), so its receive ring is live in both kernels.
net_up() {
  for i in /sys/class/net/eth*; do
    [ -e "$i" ] || continue
    n=${i##*/}
    [ -e /tmp/up.$n ] && continue
    : > /tmp/up.$n
    ip link set $n up; ip addr add 10.0.2.15/24 dev $n; say net-up $n
  done
}

if grep -q 'refstage=2' /proc/cmdline; then
  say stage2-start
  for m in $KDUMP_MODULES; do
    eval d=\$DELAY_$m
    if [ -n "$d" ]; then say delay $m $d; sleep $d; fi
    say insmod $m
    insmod /mod/$m.ko || say insmod-failed $m
    net_up
  done
  say kdump-run
  sleep $KDUMP_RUN
  say stage2-end
  poweroff -f
fi

say stage1-start
for m in $PRIMARY_MODULES; do say insmod $m; insmod /mod/$m.ko || say insmod-failed $m; done
ip link set lo up
net_up
if [ "$DISK_DMA" = 1 ] && [ -b /dev/vda ]; then
  ( while true; do dd if=/dev/vda of=/dev/null bs=64k 2>/dev/null; echo 3 > /proc/sys/vm/drop_caches; done ) &
  say disk-dma
fi
say net-ready
kexec -p /kdump/Image --initrd=/kdump/initrd.cpio.gz \
  --append="console=ttyAMA0 maxcpus=1 nr_cpus=1 reset_devices refstage=2 rdinit=/init $KDUMP_APPEND" || say kexec-failed
say kexec-loaded
sleep $CRASH_AFTER
say crash
echo c > /proc/sysrq-trigger
