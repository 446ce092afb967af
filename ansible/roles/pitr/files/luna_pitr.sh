#!/usr/bin/env bash
# Continuous WAL archiving, base backups and point-in-time restore of a PostgreSQL cluster, with bash and
# PostgreSQL's own tools only. The pitr role installs it; PostgreSQL runs it (archive_command,
# restore_command), so does the base-backup timer and restore.yml. Run it as the cluster's OS user.
#
#   luna_pitr.sh archive-wal ARCHIVE WAL_PATH WAL_NAME      archive_command = '… archive-wal ARCHIVE %p %f'
#   luna_pitr.sh restore-wal ARCHIVE WAL_NAME TARGET_PATH   restore_command = '… restore-wal ARCHIVE %f %p'
#   luna_pitr.sh base-backup ARCHIVE KEEP [pg_basebackup connection options …]
#   luna_pitr.sh restore ARCHIVE NEW_DATA_DIR TARGET_TIME   prepare a data directory that recovers to TARGET_TIME
#   luna_pitr.sh list ARCHIVE
#
# ARCHIVE holds wal/ (every archived segment) and base/ (base backups, each with a .finished stamp).
# LUNA_PG_BIN names the PostgreSQL binaries (default /usr/lib/postgresql/15/bin).
set -euo pipefail

PG_BIN=${LUNA_PG_BIN:-/usr/lib/postgresql/15/bin}
SELF=$(readlink -f "$0")

die() {
    echo "luna_pitr: $*" >&2
    exit 1
}

archive_wal() {  # ARCHIVE WAL_PATH WAL_NAME: copy durably, never overwrite a different file
    local archive=$1 path=$2 name=$3
    local dest="$archive/wal/$name"
    if [ -e "$dest" ]; then
        # PostgreSQL retries a segment whose archiving it did not see succeed: the same bytes are fine
        cmp -s "$path" "$dest" && return 0
        die "$dest is already archived with different content"
    fi
    cp "$path" "$dest.partial"
    sync "$dest.partial"
    mv "$dest.partial" "$dest"
    sync "$archive/wal"
}

restore_wal() {  # ARCHIVE WAL_NAME TARGET_PATH: a missing segment is the end of the archive (exit 1)
    local archive=$1 name=$2 path=$3
    [ -f "$archive/wal/$name" ] || exit 1
    cp "$archive/wal/$name" "$path"
}

finished_backups() {  # ARCHIVE: base backup directories that completed, oldest first
    local stamp
    for stamp in "$1"/base/*.finished; do
        [ -e "$stamp" ] || continue
        printf '%s\n' "${stamp%.finished}"
    done | sort
}

prune() {  # ARCHIVE KEEP: keep the newest KEEP base backups and the WAL the oldest of them needs
    local archive=$1 keep=$2 oldest first_wal dir
    local -a backups
    mapfile -t backups < <(finished_backups "$archive")
    local count=${#backups[@]}
    if [ "$count" -gt "$keep" ]; then
        for dir in "${backups[@]:0:count-keep}"; do
            rm -rf "$dir" "$dir.finished"
        done
    fi
    oldest=$(finished_backups "$archive" | head -n 1)
    [ -n "$oldest" ] || return 0
    first_wal=$(sed -n 's/^START WAL LOCATION: .*(file \([0-9A-F]\{24\}\))$/\1/p' "$oldest/backup_label")
    [ -n "$first_wal" ] || die "no START WAL LOCATION in $oldest/backup_label"
    "$PG_BIN/pg_archivecleanup" "$archive/wal" "$first_wal"
}

base_backup() {  # ARCHIVE KEEP [connection options]: a verified plain base backup, then prune
    local archive=$1 keep=$2
    shift 2
    local stamp dir
    stamp=$(date -u +%Y%m%dT%H%M%S%NZ)
    dir="$archive/base/$stamp"
    rm -rf "$dir.partial"
    "$PG_BIN/pg_basebackup" --pgdata="$dir.partial" --format=plain --wal-method=stream --checkpoint=fast \
        --label="luna $stamp" --no-password "$@"
    "$PG_BIN/pg_verifybackup" "$dir.partial" >/dev/null
    mv "$dir.partial" "$dir"
    # when it was complete: a restore may only start from a backup that finished before its target time
    date -u '+%Y-%m-%d %H:%M:%S.%N+00' >"$dir.finished"
    sync "$archive/base"
    prune "$archive" "$keep"
    echo "$dir"
}

restore() {  # ARCHIVE NEW_DATA_DIR TARGET_TIME
    local archive=$1 data=$2 target=$3 target_ns chosen="" dir finished_ns
    case "$archive$data$SELF" in *"'"*) die "paths must not contain a single quote" ;; esac
    case "$target" in *"'"*) die "the target time must not contain a single quote" ;; esac
    if [ -e "$data" ] && [ -n "$(ls -A "$data")" ]; then
        die "$data is not empty: restore into a new data directory"
    fi
    target_ns=$(date -u -d "$target" +%s%N) || die "cannot read the target time: $target"
    while read -r dir; do
        finished_ns=$(date -u -d "$(cat "$dir.finished")" +%s%N)
        if [ "$finished_ns" -lt "$target_ns" ]; then
            chosen=$dir
        fi
    done < <(finished_backups "$archive")
    [ -n "$chosen" ] || die "no base backup finished before $target"
    mkdir -p "$data"
    chmod 0700 "$data"
    cp -a "$chosen/." "$data/"
    # roll forward from the archive to the target, then open for writes; this copy archives nothing
    # (its new timeline would mix into the archive it came from) until archiving is set up again
    cat >>"$data/postgresql.auto.conf" <<CONF
# luna_pitr restore from $chosen to $target
restore_command = '$SELF restore-wal $archive %f %p'
recovery_target_time = '$target'
recovery_target_action = 'promote'
archive_mode = 'off'
CONF
    touch "$data/recovery.signal"
    echo "$data recovers from $chosen to $target on start"
}

list() {  # ARCHIVE
    local archive=$1 dir
    while read -r dir; do
        printf '%s finished %s\n' "$dir" "$(cat "$dir.finished")"
    done < <(finished_backups "$archive")
    printf '%s WAL segments archived\n' "$(find "$archive/wal" -maxdepth 1 -type f ! -name '*.partial' | wc -l)"
}

command=${1:-}
[ -n "$command" ] || die "usage: luna_pitr.sh archive-wal|restore-wal|base-backup|restore|list ARCHIVE …"
shift
case "$command" in
    archive-wal) [ $# -eq 3 ] || die "archive-wal ARCHIVE WAL_PATH WAL_NAME"; archive_wal "$@" ;;
    restore-wal) [ $# -eq 3 ] || die "restore-wal ARCHIVE WAL_NAME TARGET_PATH"; restore_wal "$@" ;;
    base-backup) [ $# -ge 2 ] || die "base-backup ARCHIVE KEEP [pg_basebackup options]"; base_backup "$@" ;;
    restore) [ $# -eq 3 ] || die "restore ARCHIVE NEW_DATA_DIR TARGET_TIME"; restore "$@" ;;
    list) [ $# -eq 1 ] || die "list ARCHIVE"; list "$@" ;;
    *) die "unknown command $command" ;;
esac
