#!/bin/bash -e
# Inside the image: the venv sees apt's picamera2/libcamera/numpy (--system-site-packages),
# so picamera2's compiled parts keep the numpy they were built against.
python3 -m venv --system-site-packages /opt/microexpr/venv
/opt/microexpr/venv/bin/pip install --no-cache-dir \
    "$(ls /opt/microexpr/dist/microexpr-*.whl)[$(cat /opt/microexpr/dist/extras)]"
/opt/microexpr/venv/bin/microexpr --version
# The pipeline's own check: models present and their sha256 as the manifest says.
MICROEXPR_MODELS_DIR=/opt/microexpr/models /opt/microexpr/venv/bin/microexpr models list
chmod 0755 /opt/microexpr/firmware/provision.sh
install -m 0644 /opt/microexpr/systemd/microexpr-provision.service /etc/systemd/system/
systemctl enable microexpr-provision.service
