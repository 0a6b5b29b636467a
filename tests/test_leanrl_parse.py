"Proof parsing: Lean layout and combinators, Coq sentences, exact token positions."
import pytest
from lmpapers.leanrl.parse import parse_lean_proof, parse_coq_proof, token_spans, decoded_offsets, mask_comments

def texts(ts): return [t.text for t in ts]

@pytest.mark.parametrize('proof, want', [
    ('simp', ['simp']),
    ('intro x; simp at x <;> ring', ['intro x', 'simp at x', 'ring']),
    ('  constructor\n  · simp\n  · exact h', ['constructor', 'simp', 'exact h']),
    ('  constructor\n  . simp\n    ring\n  . exact h', ['constructor', 'simp', 'ring', 'exact h']),
    ('have h : a = b := by\n    simp\n    ring\n  exact h', ['have h : a = b := by', 'simp', 'ring', 'exact h']),
    ('have h : a = b := by simp; ring\nexact h', ['have h : a = b := by', 'simp', 'ring', 'exact h']),
    ('cases h with\n| inl a => exact a\n| inr b =>\n  simp\n  exact b', ['cases h with', '| inl a =>', 'exact a', '| inr b =>', 'simp', 'exact b']),
    ('case zero => rfl\ncase succ n ih => simp [ih]', ['case zero =>', 'rfl', 'case succ n ih =>', 'simp [ih]']),
    ('next => rfl', ['next =>', 'rfl']),
    ('exact ⟨by simp, fun x => by ring⟩', ['exact ⟨by simp, fun x => by ring⟩']),
    ('-- a comment; simp\nrfl /- block; ring -/', ['rfl']),
    ('rw [h₀] at h₁\nnlinarith [sq_nonneg (x - y), sq_nonneg (x + y),\n  h₁]', ['rw [h₀] at h₁', 'nlinarith [sq_nonneg (x - y), sq_nonneg (x + y),\n  h₁]']),
    ('first | simp | ring', ['first | simp | ring']),
    ('by\n  norm_num [Nat.pow_succ]', ['norm_num [Nat.pow_succ]']),
    ('simp only [foo] at h ⊢\n  -- done\n', ['simp only [foo] at h ⊢']),
    # calc: every step belongs to the calc; a step's `by` tactics are its own, never the next step
    ('calc a = b := by rw [h]\n  _ = c := by simp\n  _ = d := h2\nexact foo', ['calc', 'a = b := by', 'rw [h]', '_ = c := by', 'simp', '_ = d := h2', 'exact foo']),
    ('calc a\n    _ = b := by\n      rw [h]\n      ring\n    _ = c := h2', ['calc', 'a', '_ = b := by', 'rw [h]', 'ring', '_ = c := h2']),
    ('exact calc a = b := h1\n    _ = c := h2', ['exact calc', 'a = b := h1', '_ = c := h2']),
    ('nlinarith [calc_lemma x]', ['nlinarith [calc_lemma x]']),
])
def test_lean_tactics_and_spans(proof, want):
    ts = parse_lean_proof(proof)
    assert texts(ts) == want
    assert all(proof[t.start:t.end] == t.text for t in ts)
    assert [t.start for t in ts] == sorted(t.start for t in ts)

def test_calc_depths():
    ts = parse_lean_proof('calc a = b := by rw [h]\n  _ = c := by simp\n  _ = d := h2')
    assert [(t.depth, t.kind) for t in ts] == [(0, 'calc'), (1, 'step'), (2, 'tactic'), (1, 'step'), (2, 'tactic'), (1, 'step')]

def test_lean_depths():
    ts = parse_lean_proof('  constructor\n  · have h : x := by\n      simp\n    exact h\n  · rfl')
    assert [(t.text, t.depth) for t in ts] == [('constructor', 0), ('have h : x := by', 1), ('simp', 2), ('exact h', 1), ('rfl', 1)]

def test_coq_sentences():
    ts = parse_coq_proof('intros. destruct H as [H1 H2].\n  + split; [exact H2 | exact H1].\n  + { apply Nat.le_0_l. }\nQed.')
    assert texts(ts) == ['intros.', 'destruct H as [H1 H2].', '+', 'split; [exact H2 | exact H1].', '+', '{', 'apply Nat.le_0_l.', '}']
    assert texts(parse_coq_proof('simpl. (* rewrite x. *) lia.')) == ['simpl.', 'lia.']
    assert texts(parse_coq_proof('exact (f 1.5).')) == ['exact (f 1.5).']

def test_type_errors():
    with pytest.raises(TypeError): parse_lean_proof(3)
    with pytest.raises(ValueError): mask_comments('x', 'isabelle')

def test_first_token_of_each_tactic_is_exact():
    from lmpapers.core.tokenizer import train_tokenizer
    tok = train_tokenizer()
    for proof, parse in (('intros n. induction n as [|n IH]. reflexivity. simpl. rewrite IH. reflexivity.', parse_coq_proof),
                         ('  intro x\n  simp [h₀] at *; ring_nf\n  · exact foo', parse_lean_proof)):
        enc = tok(proof, return_offsets_mapping=True, add_special_tokens=False)
        ts = parse(proof)
        sp = token_spans(ts, enc['offset_mapping'])
        for t, (a, b) in zip(ts, sp):
            s0, e0 = enc['offset_mapping'][a]
            assert s0 <= t.start < e0 or (s0 >= t.start and proof[t.start:s0].strip() == '')   # the first token holds the tactic's first char
            assert tok.decode(enc['input_ids'][a:b]).strip().startswith(t.text[:3])
        text, offs = decoded_offsets(tok, enc['input_ids'])
        assert text == proof and token_spans(ts, offs) == sp
