#!/usr/bin/env bash
# Short ablations behind the bundled reasoner's recipe, each arm trained for the same
# wall-clock budget on the same levels and seed, then evaluated greedily on the same
# held-out problems of the trained levels:
#
#   format      fine traces (the default) vs the earlier coarse ones   (fine vs coarse)
#   curriculum  competence-ordered levels vs uniform mixing            (competence vs fine)
#   preset      small vs base at equal time                            (base vs fine)
#   chain       chain lines that end with the named result (the default) vs without
#               it                                                     (fine vs unnamed)
#   perm        permutation headers linked to the prompt (the default) vs the
#               permutation alone                                      (fine vs unlinked)
#   listed      chain traces that first list the constants they use vs the
#               default                                                (listed vs fine)
#   quoted      chain traces that restate a constant as the prompt states it
#               (`x is 2`) where they first use it vs the default      (quoted vs fine)
#   precision   bf16 autocast vs float32 at equal time                 (fine vs bf16)
#   jitter      randomized rotary positions in training (--position-span SPAN, Ruoss
#               et al. 2023: gaps varying around 1) vs ordinary ones, judged past the
#               trained levels and on them                           (fine vs jitter)
#   span        the first version of jitter (at commit b3db3a5, positions not divided
#               by the span: mean gap SPAN in training, 1 at test); rerun it there
#                                                                      (fine vs span)
#   scaled      the span arm's model run at its training gaps (position_scale SPAN, no
#               more training) vs at gap 1               (span vs scaled, fine vs scaled)
#   pad         up to PAD extra spaces in each training question, after its sentences
#               (--prompt-pad): distances to the prompt vary, so look-ups by counting
#               fail in training                                         (fine vs pad)
#   words       the same spaces after any word (--pad-at words)       (fine vs words)
#   permN       words, perm alone, up to N spaces (perm160, perm64)  (fine vs permN)
#   chars       spaces after any character, numbers too (the random spaces of Shen et
#               al. 2023), arith alone, up to PAD                      (fine vs chars)
#   consumed    arith traces that take each digit off the end of what the line above
#               left (--style arith=consumed: no digit read by its place, loops end
#               when the operands are used up; every arith family in TASKS)
#                                                                    (fine vs consumed)
#   rest        perm headers listing the permutations not yet applied
#               (--style perm=consumed: the trace ends after the block whose header
#               holds one, not after a count of blocks)                  (fine vs rest)
#   nope        no positional encoding (--positions none, Kazemnejad et al. 2023), a
#               fresh model against a fresh rotary one                   (fine vs nope)
#   nopec       no positional encoding, every arith family of TASKS in the consumed
#               trace                                                   (nope vs nopec)
#   abacus      digit-index embeddings (--digit-index 32, Abacus: McLeish et al. 2024) on a
#               model without positions in the consumed arith trace, against the same
#               without them (nopec): copying and peeling numbers by index matching
#                                                                   (nopec vs abacus)
#   gqa, mqa    2 key/value heads, or 1, for the 4 query heads (--kv-heads: grouped-query
#               and multi-query attention; with INIT, the checkpoint's heads
#               mean-pooled, then uptrained, Ainslie et al. 2023)   (fine vs gqa / mqa)
#
#   bash recipes/ablations/reasoner.sh              # every arm, then the summary
#   ARMS="fine coarse" bash recipes/ablations/reasoner.sh
#   # the curriculum at the bundled reasoner's levels, kept apart from the format runs:
#   ARMS="fine competence" LEVELS=arith=4,chain=3,countdown=2,perm=2 \
#     EVAL_LEVELS="arith:1-4 chain:1-3 countdown:1-2 perm:1-2" PACK_LEN=640 \
#     DIR=reports/ablation_curriculum OUT=reports/ablation_curriculum.json \
#     RUNS=runs/ablation_curriculum bash recipes/ablations/reasoner.sh
#   # the chain format, chain alone, trained on levels 1-4 and evaluated past them:
#   ARMS="fine unnamed" TASKS=chain LEVELS=chain=4 EVAL_LEVELS="chain:1-7" N=700 \
#     MINUTES=14 DIR=reports/ablation_chain OUT=reports/ablation_chain.json \
#     RUNS=runs/ablation_chain bash recipes/ablations/reasoner.sh
#   # the perm format, perm alone, trained on levels 1-4 and evaluated past them:
#   ARMS="fine unlinked" TASKS=perm LEVELS=perm=4 EVAL_LEVELS="perm:1-7" N=700 \
#     MINUTES=30 DIR=reports/ablation_perm OUT=reports/ablation_perm.json \
#     RUNS=runs/ablation_perm bash recipes/ablations/reasoner.sh
#   # chain traces that list their constants first, chain alone, levels 1-5:
#   ARMS="fine listed" TASKS=chain LEVELS=chain=5 EVAL_LEVELS="chain:1-5" N=500 \
#     MINUTES=25 DIR=reports/ablation_listed OUT=reports/ablation_listed.json \
#     RUNS=runs/ablation_listed bash recipes/ablations/reasoner.sh
#   # the preset at equal time, chain alone, levels 1-5:
#   ARMS="fine base" TASKS=chain LEVELS=chain=5 EVAL_LEVELS="chain:1-5" N=500 \
#     MINUTES=25 DIR=reports/ablation_preset OUT=reports/ablation_preset.json \
#     RUNS=runs/ablation_preset bash recipes/ablations/reasoner.sh
#   # bf16 autocast against float32 at equal time, compared on held-out loss too:
#   ARMS="fine bf16" MINUTES=10 N=100 DIR=reports/ablation_precision \
#     OUT=reports/ablation_precision.json RUNS=runs/ablation_precision \
#     bash recipes/ablations/reasoner.sh
#   # randomized positions as continued training of the bundled reasoner (INIT), 20
#   # minutes an arm at its recipe's mixture, judged on the two levels past its training,
#   # then (RESUME=1: no more training) on the trained levels, to see what they cost
#   # (the span arm at commit b3db3a5; the jitter arm, ARMS=jitter, the same way now):
#   ARMS="fine span" INIT=src/ponder/assets/default MINUTES=20 LR=3e-4 BATCH=4 \
#     PACK_LEN=640 LEVELS=arith=5,chain=5,countdown=2,perm=4 SPAN=1.25 \
#     EXTRA="--weights chain=2,countdown=1 --style chain=quoted" \
#     EVAL_LEVELS="arith:6-7 chain:6-7 countdown:3-4 perm:5-6" N=1000 \
#     DIR=reports/ablation_span OUT=reports/ablation_span.json RUNS=runs/ablation_span \
#     bash recipes/ablations/reasoner.sh
#   RESUME=1 ARMS="fine span" ...the same... \
#     EVAL_LEVELS="arith:1-5 chain:1-5 countdown:1-2 perm:1-4" N=500 \
#     DIR=reports/ablation_span_trained OUT=reports/ablation_span_trained.json \
#     RUNS=runs/ablation_span bash recipes/ablations/reasoner.sh
#   # the span arm run at its training gaps (arm scaled: a rescaled copy, no training),
#   # on the same two sets of problems:
#   ARMS=scaled SPAN=1.25 EVAL_LEVELS="arith:6-7 chain:6-7 countdown:3-4 perm:5-6" \
#     N=1000 DIR=reports/ablation_span OUT=reports/ablation_span.json \
#     RUNS=runs/ablation_span bash recipes/ablations/reasoner.sh
#   ARMS=scaled SPAN=1.25 EVAL_LEVELS="arith:1-5 chain:1-5 countdown:1-2 perm:1-4" N=500 \
#     DIR=reports/ablation_span_trained OUT=reports/ablation_span_trained.json \
#     RUNS=runs/ablation_span bash recipes/ablations/reasoner.sh
#   # prompt padding as continued training, judged like jitter (same two commands,
#   # ARMS="pad words" PAD=64, then ARMS="perm160 chars" PAD=16, then ARMS=perm64), and
#   # a second training seed: SEED=1 ARMS="fine words" (then ARMS=perm160) with
#   # EVAL_LEVELS="perm:5-6 chain:6-7" DIR=reports/ablation_span_s1
#   # OUT=reports/ablation_span_s1.json RUNS=runs/ablation_span_s1, and RESUME=1 with
#   # EVAL_LEVELS="arith:1-5 perm:1-4" N=500 DIR=reports/ablation_span_s1_trained
#   # OUT=reports/ablation_span_s1_trained.json; how many permutations the chains
#   # apply: python recipes/perm_loops.py reports/ablation_span*/*_perm.json --out ...
#   # and chain's length alone: python recipes/chain_factors.py --model \
#   #   runs/ablation_span/ARM --distractors 0 --out reports/ablation_span_chain_factors_ARM.json
#   # arith's consumed trace as continued training of the bundled reasoner on arith
#   # alone (levels 1-5), judged past training, then (RESUME=1) on the trained levels:
#   ARMS="fine consumed" TASKS=arith LEVELS=arith=5 INIT=src/ponder/assets/default \
#     MINUTES=20 LR=3e-4 BATCH=4 PACK_LEN=640 EVAL_LEVELS="arith:6-7" N=1000 \
#     DIR=reports/ablation_consumed OUT=reports/ablation_consumed.json \
#     RUNS=runs/ablation_consumed bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_consumed_trained OUT=reports/ablation_consumed_trained.json
#   # sums trained to longer operands than products (arith:add to level 9, 5+5 digits,
#   # beside arith to 5), judged on products past training (arith:mul, 4x3 and 4x4):
#   ARMS="fine consumed" TASKS=arith,arith:add LEVELS=arith=5,arith:add=9 \
#     INIT=src/ponder/assets/default MINUTES=20 LR=3e-4 BATCH=4 PACK_LEN=640 \
#     EVAL_LEVELS="arith:mul:6-7" N=1000 DIR=reports/ablation_longadd \
#     OUT=reports/ablation_longadd.json RUNS=runs/ablation_longadd \
#     bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_longadd_trained OUT=reports/ablation_longadd_trained.json
#   # 4- and 5-digit operands trained beside a 1-digit one (arith:4x1, arith:5x1, sums
#   # and products), judged on the products no level trained (4x3, 4x4):
#   ARMS="fine consumed" TASKS=arith,arith:4x1,arith:5x1 LEVELS=arith=5 \
#     INIT=src/ponder/assets/default MINUTES=20 LR=3e-4 BATCH=4 PACK_LEN=640 \
#     EVAL_LEVELS="arith:mul:6-7" N=1000 DIR=reports/ablation_wide \
#     OUT=reports/ablation_wide.json RUNS=runs/ablation_wide \
#     bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_wide_trained OUT=reports/ablation_wide_trained.json
#   # the same with a 4-digit operand beside a 1- and a 2-digit one (rows 1 and 2 of a
#   # 4-digit multiplicand trained, 3 only beside a 3-digit one):
#   ARMS="fine consumed" TASKS=arith,arith:4x1,arith:4x2 ...the same... \
#     DIR=reports/ablation_wide2 OUT=reports/ablation_wide2.json RUNS=runs/ablation_wide2
#   #   (RESUME=1 ... EVAL_LEVELS="arith:1-5" N=500 DIR=reports/ablation_wide2_trained
#   #   OUT=reports/ablation_wide2_trained.json for its trained levels)
#   # and the parts each of the two learned (RESUME=1, no more training):
#   #   longadd: EVAL_LEVELS="arith:add:6-9" N=400 DIR=reports/ablation_longadd_parts
#   #     OUT=reports/ablation_longadd_parts.json
#   #   wide: EVAL_LEVELS="arith:4x1:1 arith:5x1:1" N=300 DIR=reports/ablation_wide_parts
#   #     OUT=reports/ablation_wide_parts.json
#   # perm's headers of what is left, the same way on perm alone (levels 1-4):
#   ARMS="fine rest" TASKS=perm LEVELS=perm=4 INIT=src/ponder/assets/default \
#     MINUTES=20 LR=3e-4 BATCH=4 PACK_LEN=640 EVAL_LEVELS="perm:5-6" N=1000 \
#     DIR=reports/ablation_rest OUT=reports/ablation_rest.json \
#     RUNS=runs/ablation_rest bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="perm:1-4" N=500 \
#     DIR=reports/ablation_rest_trained OUT=reports/ablation_rest_trained.json
#   # a model without positions against a rotary one, both fresh, arith alone (levels
#   # 1-5), judged past training, then (RESUME=1) on the trained levels:
#   ARMS="fine nope" TASKS=arith LEVELS=arith=5 MINUTES=90 LR=3e-3 BATCH=4 PACK_LEN=640 \
#     EVAL_LEVELS="arith:6-7" N=1000 DIR=reports/ablation_nope \
#     OUT=reports/ablation_nope.json RUNS=runs/ablation_nope bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_nope_trained OUT=reports/ablation_nope_trained.json
#   # and that model without positions, 20 more minutes in the consumed trace against
#   # the default one (arith copies: python recipes/arith_factors.py --records
#   # reports/ablation_nope_consumed/*_arith.json --out reports/arith_copies_nope_consumed.json):
#   ARMS="fine consumed" TASKS=arith LEVELS=arith=5 INIT=runs/ablation_nope/nope MINUTES=20 \
#     LR=3e-4 BATCH=4 PACK_LEN=640 EVAL_LEVELS="arith:6-7" N=1000 \
#     DIR=reports/ablation_nope_consumed OUT=reports/ablation_nope_consumed.json \
#     RUNS=runs/ablation_nope_consumed bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_nope_consumed_trained OUT=reports/ablation_nope_consumed_trained.json
#   # digit-index embeddings against none, both fresh, without positions, consumed arith
#   # trace, arith alone (levels 1-5), judged past training, then on the trained levels:
#   ARMS="nopec abacus" TASKS=arith LEVELS=arith=5 MINUTES=90 LR=3e-3 BATCH=4 PACK_LEN=640 \
#     EVAL_LEVELS="arith:6-7" N=1000 DIR=reports/ablation_abacus \
#     OUT=reports/ablation_abacus.json RUNS=runs/ablation_abacus bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_abacus_trained OUT=reports/ablation_abacus_trained.json
#   # each paired with the nope arm above too (consumed vs default trace, both NoPE):
#   python recipes/ablations/summarize.py --dir reports/ablation_abacus \
#     --out reports/ablation_abacus.json --runs runs/ablation_abacus \
#     --arm nope=reports/ablation_nope:runs/ablation_nope
#   python recipes/ablations/summarize.py --dir reports/ablation_abacus_trained \
#     --out reports/ablation_abacus_trained.json --runs runs/ablation_abacus \
#     --arm nope=reports/ablation_nope_trained:runs/ablation_nope
#   # the nopec arm again with training seed 1, at the first seed's step count (two
#   # threads: one arm alone):
#   ARMS=nopec SEED=1 TASKS=arith LEVELS=arith=5 MINUTES=60 LR=3e-3 BATCH=4 PACK_LEN=640 \
#     EXTRA="--steps 13940 --threads 2" EVAL_LEVELS="arith:6-7" N=1000 \
#     DIR=reports/ablation_abacus_s1 OUT=reports/ablation_abacus_s1.json \
#     RUNS=runs/ablation_abacus_s1 bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_abacus_s1_trained OUT=reports/ablation_abacus_s1_trained.json
#   # and with seeds 2 and 3 (S=2, S=3: both at once, one thread each, the steps bound):
#   ARMS=nopec SEED=$S TASKS=arith LEVELS=arith=5 MINUTES=150 LR=3e-3 BATCH=4 PACK_LEN=640 \
#     EXTRA="--steps 13940" EVAL_LEVELS="arith:6-7" N=1000 \
#     DIR=reports/ablation_abacus_s$S OUT=reports/ablation_abacus_s$S.json \
#     RUNS=runs/ablation_abacus_s$S bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_abacus_s${S}_trained OUT=reports/ablation_abacus_s${S}_trained.json
#   # nopec with a 4-digit operand trained beside a 1- and a 2-digit one (one arm alone,
#   # two threads), judged on the ladder past training, then on its trained levels:
#   ARMS=nopec TASKS=arith,arith:4x1,arith:4x2 LEVELS=arith=5 MINUTES=80 LR=3e-3 BATCH=4 \
#     PACK_LEN=640 EXTRA="--steps 13940 --threads 2" EVAL_LEVELS="arith:6-7" N=1000 \
#     DIR=reports/ablation_nopec_wide2 OUT=reports/ablation_nopec_wide2.json \
#     RUNS=runs/ablation_nopec_wide2 bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_nopec_wide2_trained OUT=reports/ablation_nopec_wide2_trained.json
#   # the same at a third of the learning rate, training seeds 0 and 1 (S=0, S=1: both at
#   # once, one thread each, the steps bound), judged the same two ways:
#   ARMS=nopec SEED=$S TASKS=arith,arith:4x1,arith:4x2 LEVELS=arith=5 MINUTES=150 LR=1e-3 \
#     BATCH=4 PACK_LEN=640 EXTRA="--steps 13940" EVAL_LEVELS="arith:6-7" N=1000 \
#     DIR=reports/ablation_nopec_wide2_lr_s$S OUT=reports/ablation_nopec_wide2_lr_s$S.json \
#     RUNS=runs/ablation_nopec_wide2_lr_s$S bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_nopec_wide2_lr_s${S}_trained \
#     OUT=reports/ablation_nopec_wide2_lr_s${S}_trained.json
#   # each paired with nopec of the same seed (other learning rate, arith alone; for seed
#   # 1 ablation_abacus_s1 and _s1 throughout; for the trained levels ablation_abacus_trained,
#   # ..._s0_trained and nopec_vs_wide2_lr_s0_trained.json), and what its products copy
#   # and how many rows they run:
#   python recipes/compare_evals.py --a 'reports/ablation_abacus/nopec_{task}.json' \
#     --b 'reports/ablation_nopec_wide2_lr_s0/nopec_{task}.json' --tasks arith \
#     --names nopec,wide2_lr --out reports/nopec_vs_wide2_lr_s0.json
#   python recipes/arith_factors.py --records reports/ablation_nopec_wide2_lr_s0/nopec_arith.json \
#     --out reports/arith_copies_wide2_lr_s0.json
#   python recipes/arith_factors.py --out reports/arith_copies_wide2_lr_trained.json --records \
#     reports/ablation_nopec_wide2_lr_s0_trained/nopec_arith.json \
#     reports/ablation_nopec_wide2_lr_s1_trained/nopec_arith.json
#   # and the two seeds level by level:
#   python recipes/ablations/seeds.py --task arith --out reports/ablation_nopec_wide2_lr_seeds.json \
#     --seed 0=reports/ablation_nopec_wide2_lr_s0/nopec,reports/ablation_nopec_wide2_lr_s0_trained/nopec:runs/ablation_nopec_wide2_lr_s0/nopec \
#     --seed 1=reports/ablation_nopec_wide2_lr_s1/nopec,reports/ablation_nopec_wide2_lr_s1_trained/nopec:runs/ablation_nopec_wide2_lr_s1/nopec
#   # and the nopec arm itself at that learning rate (arith alone, seed 0, one arm on two
#   # threads): the control that tells the spread of lengths from the learning rate:
#   ARMS=nopec TASKS=arith LEVELS=arith=5 MINUTES=150 LR=1e-3 BATCH=4 PACK_LEN=640 \
#     EXTRA="--steps 13940 --threads 2" EVAL_LEVELS="arith:6-7" N=1000 \
#     DIR=reports/ablation_nopec_lr_s0 OUT=reports/ablation_nopec_lr_s0.json \
#     RUNS=runs/ablation_nopec_lr_s0 bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_nopec_lr_s0_trained OUT=reports/ablation_nopec_lr_s0_trained.json
#   # paired with the wide-spread arm of the same seed and learning rate, and with nopec
#   # at 3e-3 (each also for the trained levels, *_trained):
#   python recipes/compare_evals.py --a 'reports/ablation_nopec_lr_s0/nopec_{task}.json' \
#     --b 'reports/ablation_nopec_wide2_lr_s0/nopec_{task}.json' --tasks arith \
#     --names nopec_lr,wide2_lr --out reports/nopec_lr_vs_wide2_lr_s0.json
#   python recipes/compare_evals.py --a 'reports/ablation_abacus/nopec_{task}.json' \
#     --b 'reports/ablation_nopec_lr_s0/nopec_{task}.json' --tasks arith \
#     --names nopec,nopec_lr --out reports/nopec_vs_nopec_lr_s0.json
#   python recipes/arith_factors.py --records reports/ablation_nopec_lr_s0/nopec_arith.json \
#     --out reports/arith_copies_nopec_lr_s0.json
#   # the wide-spread arm with 5x3 products added (three rows under a 5-digit
#   # multiplicand, a shape no level asks: level 6's 4x3 then interpolates trained row
#   # counts and multiplicand lengths), seed 0, lr 1e-3, one thread:
#   ARMS=nopec TASKS=arith,arith:4x1,arith:4x2,arith:mul:5x3 LEVELS=arith=5 MINUTES=150 \
#     LR=1e-3 BATCH=4 PACK_LEN=700 EXTRA="--steps 13940" EVAL_LEVELS="arith:6-7" N=1000 \
#     DIR=reports/ablation_nopec_wide53_lr_s0 OUT=reports/ablation_nopec_wide53_lr_s0.json \
#     RUNS=runs/ablation_nopec_wide53_lr_s0 bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="arith:1-5" N=500 \
#     DIR=reports/ablation_nopec_wide53_lr_s0_trained \
#     OUT=reports/ablation_nopec_wide53_lr_s0_trained.json
#   # paired with the wide-spread arm of the same seed (each also *_trained), and what
#   # its products copy and how many rows they run:
#   python recipes/compare_evals.py --a 'reports/ablation_nopec_wide2_lr_s0/nopec_{task}.json' \
#     --b 'reports/ablation_nopec_wide53_lr_s0/nopec_{task}.json' --tasks arith \
#     --names wide2_lr,wide53_lr --out reports/wide2_lr_vs_wide53_lr_s0.json
#   python recipes/arith_factors.py --records reports/ablation_nopec_wide53_lr_s0/nopec_arith.json \
#     --out reports/arith_copies_wide53_lr_s0.json
#   # and all of it again with training seed 1 (SEED=1, _s1 throughout; the trained
#   # levels by the same `ponder eval` its RESUME=1 run makes), then both seeds level by level:
#   python recipes/ablations/seeds.py --task arith --out reports/ablation_nopec_wide53_lr_seeds.json \
#     --seed 0=reports/ablation_nopec_wide53_lr_s0/nopec,reports/ablation_nopec_wide53_lr_s0_trained/nopec:runs/ablation_nopec_wide53_lr_s0/nopec \
#     --seed 1=reports/ablation_nopec_wide53_lr_s1/nopec,reports/ablation_nopec_wide53_lr_s1_trained/nopec:runs/ablation_nopec_wide53_lr_s1/nopec
#   # the bundled reasoner trained on countdown to level 3 too (continued training at its
#   # own mixture, countdown drawn at 2), judged on countdown 4-5, then (RESUME=1) on
#   # every family's trained levels:
#   ARMS=fine INIT=src/ponder/assets/default MINUTES=55 LR=3e-4 BATCH=4 PACK_LEN=900 \
#     LEVELS=arith=5,chain=5,countdown=3,perm=4 \
#     EXTRA="--weights chain=2,countdown=2 --style chain=quoted" EVAL_LEVELS="countdown:4-5" \
#     N=1000 DIR=reports/ablation_countdown3 OUT=reports/ablation_countdown3.json \
#     RUNS=runs/ablation_countdown3 bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="countdown:1-3 arith:1-5 chain:1-5 perm:1-4" N=500 \
#     DIR=reports/ablation_countdown3_trained OUT=reports/ablation_countdown3_trained.json
#   # and paired with the bundled reasoner on the same problems (its evaluations by
#   # `ponder eval --model src/ponder/assets/default --task T --difficulty L --n N
#   # --records --json reports/bundled_countdown/bundled_T[_trained].json`, countdown 4-5
#   # n=1000 and each family's trained levels n=500), and how often its searches re-try:
#   python recipes/compare_evals.py --a 'reports/bundled_countdown/bundled_{task}.json' \
#     --b 'reports/ablation_countdown3/fine_{task}.json' --tasks countdown \
#     --names bundled,countdown3 --out reports/bundled_vs_countdown3.json
#   python recipes/compare_evals.py --a 'reports/bundled_countdown/bundled_{task}_trained.json' \
#     --b 'reports/ablation_countdown3_trained/fine_{task}.json' \
#     --tasks arith,chain,countdown,perm --names bundled,countdown3 \
#     --out reports/bundled_vs_countdown3_trained.json
#   # the same in countdown's "after" trace (each back: line names the move last tried
#   # from its state), for about the same tokens (rows of 1000: its longest traces),
#   # two threads:
#   ARMS=fine INIT=src/ponder/assets/default MINUTES=55 LR=3e-4 BATCH=4 PACK_LEN=1000 \
#     LEVELS=arith=5,chain=5,countdown=3,perm=4 EXTRA="--weights chain=2,countdown=2 \
#     --style chain=quoted,countdown=after --steps 6450 --threads 2" \
#     EVAL_LEVELS="countdown:4-5" N=1000 DIR=reports/ablation_countdown3_after \
#     OUT=reports/ablation_countdown3_after.json RUNS=runs/ablation_countdown3_after \
#     bash recipes/ablations/reasoner.sh
#   RESUME=1 ...the same... EVAL_LEVELS="countdown:1-3 arith:1-5 chain:1-5 perm:1-4" N=500 \
#     DIR=reports/ablation_countdown3_after_trained \
#     OUT=reports/ablation_countdown3_after_trained.json
#   # the two traces paired (each also *_trained), countdown 6 of the first, and how
#   # often each one's searches re-try, drop a number or write a line the checker rejects:
#   python recipes/compare_evals.py --a 'reports/ablation_countdown3/fine_{task}.json' \
#     --b 'reports/ablation_countdown3_after/fine_{task}.json' --tasks countdown \
#     --names search,after --out reports/countdown3_search_vs_after.json
#   .venv/bin/ponder eval --model runs/ablation_countdown3/fine --task countdown --difficulty 6 \
#     --n 500 --records --json reports/ablation_countdown3_l6/fine_countdown.json
#   python recipes/countdown_loops.py reports/bundled_countdown/bundled_countdown.json \
#     reports/ablation_countdown3/fine_countdown.json \
#     reports/ablation_countdown3_after/fine_countdown.json \
#     reports/bundled_countdown/bundled_countdown_trained.json \
#     reports/ablation_countdown3_trained/fine_countdown.json \
#     reports/ablation_countdown3_after_trained/fine_countdown.json \
#     reports/ablation_countdown3_l6/fine_countdown.json --out reports/countdown_loops.json
#   # the bundled reasoner uptrained to multi-query attention (its four key/value heads
#   # mean-pooled into one) against the same continued training with its heads as they
#   # are, 3000 steps (7.7M tokens, 8% of its training) at its own mixture, both judged
#   # on every family's trained levels, then paired:
#   ARMS="fine mqa" INIT=src/ponder/assets/default MINUTES=90 LR=3e-4 BATCH=4 PACK_LEN=640 \
#     LEVELS=arith=5,chain=5,countdown=2,perm=4 EXTRA="--weights chain=2,countdown=1 \
#     --style chain=quoted --steps 3000" \
#     EVAL_LEVELS="arith:1-5 chain:1-5 countdown:1-2 perm:1-4" N=500 \
#     DIR=reports/ablation_mqa OUT=reports/ablation_mqa.json RUNS=runs/ablation_mqa \
#     bash recipes/ablations/reasoner.sh
#   # and with two key/value heads (each the mean of two), the same way (ARMS=gqa, the
#   # same DIR and RUNS), each paired with the control:
#   python recipes/compare_evals.py --a 'reports/ablation_mqa/fine_{task}.json' \
#     --b 'reports/ablation_mqa/mqa_{task}.json' --tasks arith,chain,countdown,perm \
#     --names mha,mqa --out reports/mha_vs_mqa_uptrained.json
#   python recipes/compare_evals.py --a 'reports/ablation_mqa/fine_{task}.json' \
#     --b 'reports/ablation_mqa/gqa_{task}.json' --tasks arith,chain,countdown,perm \
#     --names mha,gqa --out reports/mha_vs_gqa_uptrained.json
#   # and the two-head arm and its control again with training seed 1 (SEED=1
#   # ARMS="fine gqa", DIR=reports/ablation_mqa_s1 OUT=reports/ablation_mqa_s1.json
#   # RUNS=runs/ablation_mqa_s1), paired the same way -> reports/mha_vs_gqa_uptrained_s1.json
#   # and two key/value heads from scratch against four, at equal steps (arith 1-4 and
#   # chain 1-3, chain quoted, one thread each):
#   ARMS="fine gqa" TASKS=arith,chain LEVELS=arith=4,chain=3 MINUTES=40 BATCH=4 PACK_LEN=640 \
#     EXTRA="--style chain=quoted --steps 4000" EVAL_LEVELS="arith:1-4 chain:1-3" N=500 \
#     DIR=reports/ablation_gqa_scratch OUT=reports/ablation_gqa_scratch.json \
#     RUNS=runs/ablation_gqa_scratch bash recipes/ablations/reasoner.sh
#   python recipes/compare_evals.py --a 'reports/ablation_gqa_scratch/fine_{task}.json' \
#     --b 'reports/ablation_gqa_scratch/gqa_{task}.json' --tasks arith,chain \
#     --names mha,gqa --out reports/mha_vs_gqa_scratch.json
#   # the four seeds level by level (the spread, and how many put a level in the band):
#   python recipes/ablations/seeds.py --task arith --out reports/ablation_nopec_seeds.json \
#     --seed 0=reports/ablation_abacus/nopec,reports/ablation_abacus_trained/nopec:runs/ablation_abacus/nopec \
#     --seed 1=reports/ablation_abacus_s1/nopec,reports/ablation_abacus_s1_trained/nopec:runs/ablation_abacus_s1/nopec \
#     --seed 2=reports/ablation_abacus_s2/nopec,reports/ablation_abacus_s2_trained/nopec:runs/ablation_abacus_s2/nopec \
#     --seed 3=reports/ablation_abacus_s3/nopec,reports/ablation_abacus_s3_trained/nopec:runs/ablation_abacus_s3/nopec
#
# Arms run two at a time with one thread each. Each arm's eval goes to
# reports/ablation/<arm>_<task>.json; recipes/ablations/summarize.py pairs the arms on
# the same problems and writes reports/ablation_reasoner.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
PONDER=${PONDER:-.venv/bin/ponder}
MINUTES=${MINUTES:-12}
SEED=${SEED:-0}  # the training seed (the evaluation problems stay the same)
N=${N:-200}
ARMS=${ARMS:-fine coarse competence base}
TASKS=${TASKS:-arith,chain,countdown,perm}
RUNS=${RUNS:-runs/ablation}
LEVELS=${LEVELS:-arith=4,chain=6,countdown=3,perm=4}
EVAL_LEVELS=${EVAL_LEVELS:-"arith:1-4 chain:1-6 countdown:1-3 perm:1-4"}
PACK_LEN=${PACK_LEN:-}  # unset: the model's context
INIT=${INIT:-}  # a checkpoint every arm continues from (unset: fresh models)
LR=${LR:-3e-3}
BATCH=${BATCH:-8}
SPAN=${SPAN:-2}
PAD=${PAD:-64}
EXTRA=${EXTRA:-}  # more `ponder train` options for every arm
DIR=${DIR:-reports/ablation}
OUT=${OUT:-reports/ablation_reasoner.json}
mkdir -p "$DIR" "$RUNS"

# the consumed style for every arith task of the mixture: arith=consumed,arith:4x1=consumed
consumed_styles() {
  tr ',' '\n' <<< "$TASKS" | grep '^arith' | sed 's/$/=consumed/' | paste -sd, -
}

arm_flags() {
  case "$1" in
    fine) echo "" ;;
    coarse) echo "--style arith=coarse,chain=coarse,countdown=coarse,perm=coarse" ;;
    unnamed) echo "--style chain=unnamed" ;;
    unlinked) echo "--style perm=unlinked" ;;
    listed) echo "--style chain=listed" ;;
    quoted) echo "--style chain=quoted" ;;
    competence) echo "--curriculum competence" ;;
    base) echo "--preset base" ;;
    bf16) echo "--precision bf16" ;;
    jitter) echo "--position-span $SPAN" ;;
    span) echo "arm span was measured at commit b3db3a5; rerun it there" >&2; exit 2 ;;
    scaled) echo "" ;;
    pad) echo "--prompt-pad $PAD" ;;
    words) echo "--prompt-pad $PAD --pad-at words" ;;
    perm[0-9]*) echo "--prompt-pad perm=${1#perm} --pad-at words" ;;
    chars) echo "--prompt-pad arith=$PAD --pad-at chars" ;;
    consumed) echo "--style $(consumed_styles)" ;;
    rest) echo "--style perm=consumed" ;;
    nope) echo "--positions none" ;;
    nopec) echo "--positions none --style $(consumed_styles)" ;;
    abacus) echo "--positions none --style $(consumed_styles) --digit-index 32" ;;
    gqa) echo "--kv-heads 2" ;;
    mqa) echo "--kv-heads 1" ;;
    *) echo "unknown arm $1" >&2; exit 2 ;;
  esac
}

run_arm() {
  local arm=$1
  if [ "$arm" = scaled ]; then  # the span arm's model at position scale SPAN
    [ -d "$RUNS/scaled/checkpoint" ] || .venv/bin/python recipes/ablations/rescale.py \
      --model "$RUNS/span" --scale "$SPAN" --out "$RUNS/scaled/checkpoint"
  else
  # shellcheck disable=SC2046
  "$PONDER" train --task "$TASKS" --max-difficulty "$LEVELS" \
    --minutes "$MINUTES" --batch-size "$BATCH" --lr "$LR" --threads 1 --seed "$SEED" \
    --eval-n 0 ${PACK_LEN:+--pack-len "$PACK_LEN"} ${INIT:+--init "$INIT"} $EXTRA \
    --quiet --out "$RUNS/$arm" $(arm_flags "$arm") ${RESUME:+--resume}
  fi
  for spec in $EVAL_LEVELS; do
    task=${spec%:*}; levels=${spec##*:}  # arith:1-5, or a variant's arith:mul:6-7
    OMP_NUM_THREADS=1 "$PONDER" eval --model "$RUNS/$arm" --task "$task" --difficulty "$levels" \
      --n "$N" --records --json "$DIR/${arm}_${task}.json" > /dev/null
  done
  echo "arm $arm done"
}

set -- $ARMS
while [ $# -gt 0 ]; do
  run_arm "$1" &
  if [ $# -gt 1 ]; then run_arm "$2" & fi
  wait
  shift; [ $# -gt 0 ] && shift
done
.venv/bin/python recipes/ablations/summarize.py --dir "$DIR" --out "$OUT" --runs "$RUNS"
