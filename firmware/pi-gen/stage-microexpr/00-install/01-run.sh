#!/bin/bash -e
# Outside the chroot: copy what build-image.sh staged into files/ into the image.
install -d "${ROOTFS_DIR}/opt/microexpr" "${ROOTFS_DIR}/opt/microexpr/dist"
cp -r files/models files/systemd files/firmware files/docs "${ROOTFS_DIR}/opt/microexpr/"
cp files/dist/*.whl "${ROOTFS_DIR}/opt/microexpr/dist/"
cp files/extras "${ROOTFS_DIR}/opt/microexpr/dist/extras"
install -m 0644 files/firmware/system.conf.d/microexpr-watchdog.conf \
    "${ROOTFS_DIR}/etc/systemd/system.conf.d/microexpr-watchdog.conf" 2>/dev/null || {
    install -d "${ROOTFS_DIR}/etc/systemd/system.conf.d"
    install -m 0644 files/firmware/system.conf.d/microexpr-watchdog.conf "${ROOTFS_DIR}/etc/systemd/system.conf.d/"
}
cat files/firmware/config.txt >> "${ROOTFS_DIR}/boot/firmware/config.txt"
