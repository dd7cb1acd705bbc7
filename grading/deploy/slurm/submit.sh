#!/usr/bin/env bash
# Grades a course on a Slurm cluster: N shards as a job array, then the merge.
#
#   GRADER=~/raft-labs SUBMISSIONS=~/subs REPORTS=~/reports \
#     grading/deploy/slurm/submit.sh 16
#
# GRADE_ARGS (default: all parts, --runs 3 --jobs 2) is passed to every
# shard; it must be the same for all of them, or the merge refuses them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shards=${1:?usage: submit.sh SHARDS}
: "${GRADER:?}" "${SUBMISSIONS:?}" "${REPORTS:?}"
mkdir -p "$REPORTS/shards" "$REPORTS/logs"
array=$(sbatch --parsable --array="1-$shards" --export=ALL \
  --output="$REPORTS/logs/shard-%a.txt" "$here/grade-shard.sbatch")
sbatch --parsable --dependency="afterany:$array" --export=ALL \
  --output="$REPORTS/logs/merge.txt" "$here/grade-merge.sbatch"
