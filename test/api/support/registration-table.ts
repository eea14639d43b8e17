import { DataSource } from 'typeorm';
import { RegistrationEntity } from '@app/database';

/** Every registration row, in id order, as stored (for before/after comparisons). */
export async function allRegistrationRows(dataSource: DataSource): Promise<RegistrationEntity[]> {
  return dataSource.getRepository(RegistrationEntity).find({ order: { id: 'ASC' } });
}

export async function registrationRow(
  dataSource: DataSource,
  key: { instanceUrl: string; appId: string; tag: string },
): Promise<RegistrationEntity | null> {
  return dataSource.getRepository(RegistrationEntity).findOne({ where: key });
}
