# Sourced by the scripts of this package: safe_dir DIR prints the canonical path
# of DIR, or fails with a message when DIR is not a folder that may be cleaned:
# it must be absolute, exist, be a real folder, and not be / or a system
# folder (or one directly under /, like /var or /tmp, which hold other users' data).
safe_dir() {
    case "$1" in
    /*) ;;
    *) echo "refusing '$1': not an absolute path"; return 1 ;;
    esac
    if [ -L "$1" ]; then echo "refusing '$1': a symbolic link"; return 1; fi
    if [ ! -d "$1" ]; then echo "refusing '$1': not a folder"; return 1; fi
    real=$(cd "$1" && pwd -P) || { echo "refusing '$1': cannot enter it"; return 1; }
    case "$real" in
    / | /*/ | "") echo "refusing '$1' (resolves to '$real')"; return 1 ;;
    esac
    # at least two levels deep: /var/tmp/x is fine, /var or /tmp is not
    case "$real" in
    /*/*) ;;
    *) echo "refusing '$real': too close to /"; return 1 ;;
    esac
    case "$real" in
    /bin | /bin/* | /boot | /boot/* | /dev | /dev/* | /etc | /etc/* | /lib | /lib/* | /lib32/* | /lib64/* | \
    /proc | /proc/* | /sbin | /sbin/* | /sys | /sys/* | /usr | /usr/* | /run | /run/* | \
    /var/lib | /var/lib/* | /var/log | /var/spool | /var/mail | /home | /root | /opt/healops | /opt/healops/*)
        echo "refusing '$real': a system folder"; return 1 ;;
    esac
    printf '%s\n' "$real"
}
