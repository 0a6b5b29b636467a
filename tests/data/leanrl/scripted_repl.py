"""A scripted stand-in for the Lean REPL: it speaks the REPL's JSON protocol (requests and replies separated by blank
lines) and misbehaves on cue, so the client can be tested without a Lean toolchain. Standard library only.

A command is answered as the REPL at its head answers it, in the environment counter's next value. Markers in the
command text pick a hostile behaviour:
  lmp_slow      sleep $SCRIPTED_REPL_SLOW seconds (default 0.5), then answer as if the proof were accepted (a late reply)
  lmp_stray     write a stray non-JSON line and a blank line, then the accepted reply
  lmp_garbage   write a diagnostic line glued to the accepted reply (no blank line between them)
  lmp_nonjson   answer with a line that is not JSON
  lmp_empty     answer with an empty object {}
  lmp_list      answer with a JSON value that is not an object
  lmp_die       exit without answering
  lmp_flood     write $SCRIPTED_REPL_FLOOD bytes (default 4 MiB) with no blank line
  lmp_wrong     an error at that word (unknown identifier)
  lmp_bad_stmt  (in the statement) an error in the statement
  sorry         a `sorries` entry at the word and the warning "declaration uses 'sorry'"
An environment this process did not make is refused as the REPL refuses it. `#print axioms NAME` reports that NAME depends on no axioms. Tactic mode: `{"tactic", "proofState"}` answers the next
proof state with proofStatus Completed, or a bare error for `lmp_wrong`.
"""
import json, os, re, sys, time

SLOW = float(os.environ.get('SCRIPTED_REPL_SLOW', '0.5'))
FLOOD = int(os.environ.get('SCRIPTED_REPL_FLOOD', str(4 << 20)))
state = dict(env=-1, ps=0)

def out(text):
    sys.stdout.write(text); sys.stdout.flush()

def reply(obj): out(json.dumps(obj, ensure_ascii=False) + '\n\n')

def pos_of(text, i):
    line = text.count('\n', 0, i) + 1
    return dict(line=line, column=i - (text.rfind('\n', 0, i) + 1))

def msg(text, i, j, severity, data):
    return dict(severity=severity, pos=pos_of(text, i), endPos=pos_of(text, j), data=data)

def command(req):
    cmd = req['cmd']
    if 'env' in req and not 0 <= req['env'] <= state['env']: return reply(dict(message='Unknown environment.'))
    state['env'] += 1
    env = state['env']
    m = re.match(r'#print axioms (\S+)', cmd)
    if m: return reply(dict(messages=[msg(cmd, 0, 6, 'info', f"'{m.group(1)}' does not depend on any axioms")], env=env))
    if 'lmp_die' in cmd: sys.exit(3)
    if 'lmp_slow' in cmd: time.sleep(SLOW); return reply(dict(env=env))
    if 'lmp_stray' in cmd: out('stray diagnostic line\n\n'); return reply(dict(env=env))
    if 'lmp_garbage' in cmd: out('warning: garbage before the reply\n'); return reply(dict(env=env))
    if 'lmp_nonjson' in cmd: return out('this is not JSON\n\n')
    if 'lmp_empty' in cmd: return out('{}\n\n')
    if 'lmp_list' in cmd: return out('[1, 2]\n\n')
    if 'lmp_flood' in cmd: return out('x' * FLOOD)
    msgs, sorries = [], []
    head_end = cmd.find(':= by') if ':= by' in cmd else len(cmd)
    for w in re.finditer(r'lmp_bad_stmt|lmp_wrong', cmd):
        if w.group() == 'lmp_bad_stmt' and w.start() < head_end or w.group() == 'lmp_wrong':
            msgs.append(msg(cmd, w.start(), w.end(), 'error', f"unknown identifier '{w.group()}'"))
    for w in re.finditer(r'\bsorry\b', cmd):
        sorries.append(dict(pos=pos_of(cmd, w.start()), endPos=pos_of(cmd, w.end()), goal='⊢ True', proofState=state['ps']))
        state['ps'] += 1
    if sorries: msgs.append(msg(cmd, 8, 9, 'warning', "declaration uses 'sorry'"))
    r = {}
    if msgs: r['messages'] = msgs
    if sorries: r['sorries'] = sorries
    r['env'] = env
    reply(r)

def tactic(req):
    if 'lmp_wrong' in req['tactic']: return reply(dict(message="Lean error:\n<input>:1:0: unknown identifier 'lmp_wrong'"))
    state['ps'] += 1
    reply(dict(proofState=state['ps'], goals=[], proofStatus='Completed'))

buf = ''
for line in sys.stdin:
    if line.strip(): buf += line.rstrip('\n'); continue
    if not buf: continue
    req, buf = json.loads(buf), ''
    (tactic if 'tactic' in req else command)(req)
