/**
 * A minimal module tree in the spirit of torch.nn.Module: every parameter is registered under
 * the checkpoint's own name, so that `token_rep_layer.bert_layer.model.encoder.layer.0.attention
 * .self.query_proj.weight` maps to exactly one place in the code.
 *
 * A child may be registered under a dotted path (`token_rep_layer.bert_layer.model`) when the
 * intermediate PyTorch wrappers hold nothing of their own; that keeps our classes to one per
 * real block without inventing empty wrapper classes.
 */
import * as tf from '@tensorflow/tfjs';
import { HostTensor, TensorMap, firstNonFinite, floatData } from '../io/host-tensor';

/** How a stored tensor becomes the variable's value (e.g. a PyTorch [out, in] weight kept transposed). */
export interface ParamLayout {
  /** Shape of the tensor in the checkpoint. */
  storedShape: number[];
  /** Stored -> variable value. Identity when absent. */
  toVariable?: (stored: tf.Tensor) => tf.Tensor;
  /** Variable value (or its gradient) -> stored layout. Identity when absent. */
  toStored?: (value: tf.Tensor) => tf.Tensor;
}

export interface Parameter {
  variable: tf.Variable;
  layout: ParamLayout;
}

/** A parameter's checkpoint name and stored shape. */
export type ParamShape = [name: string, shape: number[]];

// While > 0, modules are being built only to list their parameters (see declaredShapes).
let declaring = 0;

/** Stands in for a variable in a shape-only module tree: any use of its value is a bug. */
const SHAPE_ONLY = new Proxy({} as tf.Variable, {
  get(_t, prop) {
    throw new Error(`internal: a shape-only module (declaredShapes) has no parameter values (accessed '${String(prop)}')`);
  },
});

/**
 * Checkpoint names and stored shapes of every parameter of the module tree `build` creates,
 * in namedParameters() order, without allocating a single tensor (a 445M-parameter model would
 * cost 1.8 GB just to be listed). The names and shapes come from the modules' own addParam
 * calls, so there is no second list to keep in sync.
 */
export function declaredShapes(build: () => Module): ParamShape[] {
  declaring++;
  try {
    return build().namedParameters().map(([name, p]) => [name, [...p.layout.storedShape]]);
  } finally {
    declaring--;
  }
}

export class Module {
  private readonly params = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();
  /** True when built by declaredShapes: parameters have shapes but no values. */
  readonly shapeOnly = declaring > 0;

  /** Register a float32 parameter, initialised to zeros in its variable layout until weights are loaded. */
  protected addParam(name: string, variableShape: number[], layout?: Partial<ParamLayout>): tf.Variable {
    if (this.params.has(name)) throw new Error(`parameter '${name}' registered twice`);
    if (this.shapeOnly) {
      this.params.set(name, { variable: SHAPE_ONLY, layout: { storedShape: layout?.storedShape ?? variableShape, ...layout } });
      return SHAPE_ONLY;
    }
    // tf.variable copies its initial value: free the zeros, or every model holds its weights twice.
    const init = tf.zeros(variableShape, 'float32');
    const variable = tf.variable(init, true);
    init.dispose();
    this.params.set(name, { variable, layout: { storedShape: layout?.storedShape ?? variableShape, ...layout } });
    return variable;
  }

  /**
   * Register a child under `name` (a dotted path is fine). The empty name mounts the child's
   * parameters at this module's own level: a model head owns top-level checkpoint keys such as
   * `span_rep_layer.*` and `prompt_rep_layer.*` without inventing a wrapper key.
   */
  protected addChild<M extends Module>(name: string, child: M): M {
    if (this.children.has(name)) throw new Error(`child '${name}' registered twice`);
    this.children.set(name, child);
    return child;
  }

  /** All parameters with their full checkpoint names, in registration order (like named_parameters()). */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [name, p] of this.params) out.push([prefix + name, p]);
    for (const [name, child] of this.children) out.push(...child.namedParameters(name === '' ? prefix : `${prefix}${name}.`));
    return out;
  }

  /** The module at a dotted path below this one (used by tests and tools). */
  child(path: string): Module {
    let m: Module = this;
    let rest = path;
    while (rest) {
      let found = false;
      for (const [name, c] of m.children) {
        if (name === '') {
          // A mounted child: look inside it without consuming a path segment.
          try {
            return c.child(rest);
          } catch {
            continue;
          }
        }
        if (rest === name || rest.startsWith(name + '.')) {
          m = c;
          rest = rest.slice(name.length + 1);
          found = true;
          break;
        }
      }
      if (!found) throw new Error(`no module at '${path}'`);
    }
    return m;
  }

  /**
   * Copy checkpoint tensors into the parameters. Every missing key and every shape mismatch is
   * collected and reported in one error; keys the model does not use are returned (non-strict
   * loading, as upstream GLiNER does) so the caller can report them.
   */
  loadWeights(weights: TensorMap, source = 'checkpoint'): { unexpected: string[] } {
    const named = this.namedParameters();
    const problems: string[] = [];
    for (const [name, p] of named) {
      const t = weights.get(name);
      if (!t) {
        problems.push(`missing key '${name}' (expected shape [${p.layout.storedShape}])`);
        continue;
      }
      if (!sameShape(t.shape, p.layout.storedShape)) {
        problems.push(`shape mismatch for '${name}': checkpoint has [${t.shape}], model expects [${p.layout.storedShape}]`);
      }
      const bad = weightProblem(t, name);
      if (bad) problems.push(bad);
    }
    if (problems.length) {
      throw new Error(`${source}: cannot load weights:\n  ${problems.join('\n  ')}`);
    }
    for (const [name, p] of named) assignStored(p, weights.get(name)!, name);
    const used = new Set(named.map(([n]) => n));
    return { unexpected: [...weights.keys()].filter((k) => !used.has(k)) };
  }

  /** Parameters in the checkpoint layout (names and shapes as upstream saves them). */
  exportWeights(): TensorMap {
    const out: TensorMap = new Map();
    for (const [name, p] of this.namedParameters()) {
      const data = tf.tidy(() => (p.layout.toStored ? p.layout.toStored(p.variable) : p.variable.clone()));
      out.set(name, { dtype: 'F32', shape: p.layout.storedShape, data: data.dataSync() as Float32Array });
      data.dispose();
    }
    return out;
  }

  dispose(): void {
    if (this.shapeOnly) return;
    for (const [, p] of this.namedParameters()) p.variable.dispose();
  }
}

/** A weight we cannot use: not floats, or NaN/Inf values (which would silently give no entities). */
function weightProblem(t: HostTensor, name: string): string | undefined {
  if (!(t.data instanceof Float32Array)) return `'${name}' has dtype ${t.dtype}, expected a floating-point tensor`;
  const i = firstNonFinite(t.data);
  if (i >= 0) return `'${name}' holds a non-finite value (${t.data[i]}) at flat index ${i}: the checkpoint is corrupt or diverged in training`;
  return undefined;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function assignStored(p: Parameter, t: HostTensor, name: string): void {
  tf.tidy(() => {
    const stored = tf.tensor(floatData(t, name), t.shape, 'float32');
    p.variable.assign(p.layout.toVariable ? p.layout.toVariable(stored) : stored);
  });
}
