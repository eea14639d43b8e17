import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThan, Repository } from 'typeorm';
import { ListenerNodeEntity } from '../entities/listener-node.entity';

export type ListenerNode = ListenerNodeEntity;

/** Named queries on `stream_listener_nodes`, the listener cluster's membership. */
@Injectable()
export class ListenerNodeRepository {
  constructor(
    @InjectRepository(ListenerNodeEntity) private readonly rows: Repository<ListenerNodeEntity>,
  ) {}

  /** Writes this node's row: an UPDATE (every poll after the first), an INSERT when there is none. */
  async heartbeat(node: ListenerNode): Promise<void> {
    const { id, ...fields } = node;
    const result = await this.rows.update({ id }, fields);
    if (result.affected) return;
    await this.rows.insert(node);
  }

  async findAll(): Promise<ListenerNode[]> {
    return this.rows.find();
  }

  /** Removes the rows of nodes silent since before `cutoff` (long dead: nobody waits for them any more). */
  async deleteSilentSince(cutoff: number): Promise<number> {
    const result = await this.rows.delete({ heartbeatAt: LessThan(cutoff) });
    return result.affected ?? 0;
  }

  async delete(id: string): Promise<void> {
    await this.rows.delete({ id });
  }
}
