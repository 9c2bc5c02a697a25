#!/bin/bash
# bash experiments/gpu_check/prepare.sh   (here, on the CPU machine, from the repository root)
#
# Packs what `check-gpu` needs on the GPU machine into .device/ (git-ignored), under its 64 MiB
# carry limit: spaCy and the packages that machine lacks, as a stripped site folder for its
# Python 3.12 (spaCy's test suite and languages other than English removed, debug symbols
# stripped: ~23 MB compressed instead of ~57 MB of wheels), and the converted corpora it trains on.
set -euo pipefail
PACKAGES="spacy==3.8.18 spacy-legacy==3.0.12 spacy-loggers==1.0.5 murmurhash==1.0.16 cymem==2.0.16 preshed==3.0.15
thinc==8.3.14 wasabi==1.1.3 srsly==2.5.6 catalogue==2.0.10 weasel==1.0.1 confection==1.3.4 pydantic==2.13.4
pydantic_core==2.46.4 annotated-types==0.7.0 typing-inspection==0.4.2 blis==1.3.4 cloudpathlib==0.26.0 smart-open==9.0.2
wrapt==2.1.2"
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64"
work=$(mktemp -d)
mkdir -p .device "$work/wheels" "$work/site"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $PLATFORMS -d "$work/wheels" $PACKAGES
for wheel in "$work"/wheels/*.whl; do unzip -q -o "$wheel" -d "$work/site"; done
rm -rf "$work/site/spacy/tests"
(cd "$work/site/spacy/lang" && ls -d */ | grep -v -E '^(en|xx)/$' | xargs rm -rf)
find "$work/site" -name '*.so' -exec strip --strip-unneeded {} \;
tar czf .device/gpu_site.tgz -C "$work/site" .
mkdir -p .device/corpus
for corpus in ud_en_ewt conll2003 sst2; do
  mkdir -p ".device/corpus/$corpus"
  cp "corpus/$corpus/train.spacy" "corpus/$corpus/dev.spacy" ".device/corpus/$corpus/"
done
cp assets/ptb/ptb.train.txt assets/ptb/ptb.valid.txt .device/corpus/
rm -rf "$work"
du -sh .device
